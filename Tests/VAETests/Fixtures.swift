import Tensor
import NN
import VAE
import TestSupport

/// A small model with deterministic, kink-free parameters and inputs, for gradient checks.
struct ModelFixture<T: Scalar> {
    let model: LatentModel<T>
    let values: ParameterVector<T>
    let gradients: ParameterVector<T>
    var x: [T]
    var noise: [T]
    let rows: Int

    init(_ config: ModelConfig, rows: Int = 3, seed: UInt64 = 7) {
        model = LatentModel<T>.make(config)
        values = ParameterVector(layout: model.layout)
        gradients = ParameterVector(layout: model.layout)
        model.initialize(values, seed: seed)
        var rng = FixtureRandom(seed: seed)
        for e in model.layout.entries {
            let p = values.data + e.offset
            if e.name.hasSuffix(".bias") { for i in 0..<e.count { p[i] = T(0.1 * rng.normal()) } }
            if e.name == "decoder.logscale.bias" { for i in 0..<e.count { p[i] = T(-2 + 0.3 * rng.normal()) } }
            if e.name == "decoder.logscale.weight" { for i in 0..<e.count { p[i] *= T(0.1) } }
            if e.name == "prior.pseudo_inputs" { for i in 0..<e.count { p[i] = T(rng.uniform(0.1, 0.9)) } }
        }
        let d = config.inputSize
        switch config.likelihood {
        case .bernoulli: x = (0..<(rows * d)).map { _ in rng.uniform() < 0.4 ? 1 : 0 }
        case .logistic256:
            x = (0..<(rows * d)).map { i in
                let v = i % 7 == 0 ? 0 : (i % 7 == 1 ? 255 : Int(rng.uniform(0, 256)))
                return (T(v) + 0.5) / 256
            }
        }
        noise = (0..<(rows * config.noiseWidth)).map { _ in T(rng.normal()) }
        self.rows = rows
    }

    var access: ParameterAccess<T> { ParameterAccess(values: values, gradients: gradients) }

    /// Σ_rows loss at the current values.
    func loss(beta: T) -> LossSums {
        x.withUnsafeBufferPointer { xp in
            noise.withUnsafeBufferPointer { np in
                model.loss(x: xp.baseAddress!, noise: np.baseAddress!, rows: rows, beta: beta, access)
            }
        }
    }

    /// The analytic gradient of Σ_rows loss, from zero.
    func gradient(beta: T, priorChunks: [Range<Int>]? = nil) -> (LossSums, [T]) {
        gradients.zero()
        let s = x.withUnsafeBufferPointer { xp in
            noise.withUnsafeBufferPointer { np in
                model.lossAndGradient(x: xp.baseAddress!, noise: np.baseAddress!, rows: rows, beta: beta,
                                      access, priorChunks: priorChunks)
            }
        }
        return (s, gradients.storage.scalars)
    }
}

/// Every architecture × prior × likelihood.
let allConfigurations: [ModelConfig] = Architecture.allCases.flatMap { a in
    PriorKind.allCases.flatMap { p in
        Likelihood.allCases.map { l in
            ModelConfig(architecture: a, prior: p, likelihood: l, inputSize: 6, hiddenSize: 5, latentSize: 3, components: 4)
        }
    }
}
