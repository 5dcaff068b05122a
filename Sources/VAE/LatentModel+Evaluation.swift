import Foundation
import Tensor
import NN

/// Evaluation, reconstruction and sampling on top of either architecture.
extension LatentModel {
    /// Fills noise for samples `first ..< first + count` of image `image` into `[count, noiseWidth]`.
    public typealias SampleNoise = (_ image: Int, _ first: Int, _ count: Int, _ into: UnsafeMutablePointer<T>) -> Void

    /// Noise keyed by (seed, image, evaluation): sample s of an image is the same however S is chunked.
    public func evaluationNoise(seed: UInt64, imageOffset: Int = 0) -> SampleNoise {
        let nw = noiseWidth
        return { image, first, count, out in
            KeyedRandom(RandomKey(seed: seed, epoch: 0, index: UInt64(imageOffset + image), purpose: .evaluation))
                .normals(into: out, count: count * nw, startingAt: UInt64(first * nw))
        }
    }

    /// The VampPrior's `[K, 2M]` statistics in `priorStatsBuffer`, or nil for the other priors.
    func evaluationPriorStats(_ p: ParameterAccess<T>) -> UnsafePointer<T>? {
        guard prior.needsPriorPass else { return nil }
        let s = priorStatsBuffer.reserve(config.components * 2 * config.latentSize)
        priorForward(chunks: [0..<config.components], p, into: s)
        return UnsafePointer(s)
    }

    /// The importance-sampled log-likelihood of each image, in nats:
    /// ```
    /// log p(x) ≈ log (1/S) Σ_s p(x, z_s) / q(z_s|x),   z_s ~ q(z|x)
    /// ```
    /// Each image is encoded once; its S samples go through the decoder `chunk` at a time, and the
    /// log-sum-exp runs over the chunks in Float64.
    /// - Parameters:
    ///   - x: `[rows, D]`.
    ///   - samples: S.
    ///   - chunk: samples per forward pass.
    /// - Returns: `rows` log-likelihoods.
    public func logLikelihood(x: UnsafePointer<T>, rows: Int, samples: Int, chunk: Int = 500,
                              noise: SampleNoise, _ p: ParameterAccess<T>) -> [Double] {
        precondition(samples > 0 && chunk > 0, "need at least one sample and a positive chunk")
        let d = config.inputSize, m = config.latentSize, h = config.hiddenSize, nw = noiseWidth
        let c = Swift.min(chunk, samples)
        let priorStats = evaluationPriorStats(p)
        let xs = evalX.reserve(c * d), ss = evalStats.reserve(c * 2 * m), eps = evalNoise.reserve(c * nw)
        let lw = evalWeights.reserve(c)
        // Encode all images once.
        let encoded = evalEncoded.reserve(rows * (2 * m + h))
        switch network {
        case .vae(let n):
            encoded.update(from: n.encode(x, rows: rows, p), count: rows * 2 * m)
        case .hvae(let n):
            let (s2, a) = n.encode(x, rows: rows, p)
            encoded.update(from: s2, count: rows * 2 * m)
            (encoded + rows * 2 * m).update(from: a, count: rows * h)
        }
        let branches = evalBranch.reserve(c * h)
        var result = [Double](repeating: 0, count: rows)
        for i in 0..<rows {
            for r in 0..<c {
                (xs + r * d).update(from: x + i * d, count: d)
                (ss + r * 2 * m).update(from: encoded + i * 2 * m, count: 2 * m)
                if case .hvae = network { (branches + r * h).update(from: encoded + rows * 2 * m + i * h, count: h) }
            }
            var maxW = -Double.infinity, total = 0.0
            var first = 0
            while first < samples {
                let n = Swift.min(c, samples - first)
                noise(i, first, n, eps)
                switch network {
                case .vae(let net):
                    net.logImportanceWeights(x: xs, stats: ss, noise: eps, rows: n, priorStats: priorStats, p, into: lw)
                case .hvae(let net):
                    net.logImportanceWeights(x: xs, stats: ss, branch: branches, noise: eps, rows: n,
                                             priorStats: priorStats, p, into: lw)
                }
                for r in 0..<n {
                    let w = Double(lw[r])
                    if w > maxW { total = total * Foundation.exp(maxW - w) + 1; maxW = w }
                    else { total += Foundation.exp(w - maxW) }
                }
                first += n
            }
            result[i] = maxW + Foundation.log(total) - Foundation.log(Double(samples))
        }
        return result
    }

    /// Reconstructions E[x|z] with z at the posterior means, `[rows, D]` into `out`.
    public func reconstruct(x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        let m = config.latentSize
        switch network {
        case .vae(let n):
            let s = n.encode(x, rows: rows, p)
            let z = evalNoise.reserve(rows * m)
            for r in 0..<rows { (z + r * m).update(from: s + r * 2 * m, count: m) }
            n.decode(z, rows: rows, p, into: out)
        case .hvae(let n):
            let z = evalNoise.reserve(rows * 2 * m)
            n.posteriorMeans(x, rows: rows, p, z1: z, z2: z + rows * m)
            n.decode(z1: z, z2: z + rows * m, rows: rows, p, into: out)
        }
    }

    /// Draws from the model: z from the prior (for the mixtures, a component k uniformly, then
    /// z ~ N(μ_k, e^lv_k)), then E[x|z], `[rows, D]` into `out`. Keyed by (seed, row, sampling).
    public func sample(rows: Int, seed: UInt64, _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        let m = config.latentSize, k = config.components
        let priorStats = evaluationPriorStats(p)
        let z = evalNoise.reserve(rows * 2 * m)                    // top latent, then z1 for the HVAE
        var u = 0.0
        for r in 0..<rows {
            let random = KeyedRandom(RandomKey(seed: seed, epoch: 0, index: UInt64(r), purpose: .sampling))
            random.normals(into: z + r * 2 * m, count: 2 * m)
            random.uniforms(into: &u, count: 1)
            let c = Swift.min(Int(u * Double(k)), k - 1)
            let (mu, lv): (UnsafePointer<T>?, UnsafePointer<T>?) = {
                switch prior.kind {
                case .standard: return (nil, nil)
                case .vampprior: return (priorStats! + c * 2 * m, priorStats! + c * 2 * m + m)
                case .mog: return (p.values + prior.means!.offset + c * m, p.values + prior.logvars!.offset + c * m)
                }
            }()
            if let mu = mu, let lv = lv {
                for j in 0..<m { z[r * 2 * m + j] = mu[j] + T.fastExp(lv[j] / 2) * z[r * 2 * m + j] }
            }
        }
        let top = evalX.reserve(rows * m)
        for r in 0..<rows { (top + r * m).update(from: z + r * 2 * m, count: m) }
        switch network {
        case .vae(let n):
            n.decode(top, rows: rows, p, into: out)
        case .hvae(let n):
            let ps1 = n.priorZ1Stats(top, rows: rows, p)              // p(z1|z2)
            let z1 = evalStats.reserve(rows * m)
            for r in 0..<rows {
                for j in 0..<m {
                    z1[r * m + j] = ps1[r * 2 * m + j] + T.fastExp(ps1[r * 2 * m + m + j] / 2) * z[r * 2 * m + m + j]
                }
            }
            n.decode(z1: z1, z2: top, rows: rows, p, into: out)
        }
    }
}
