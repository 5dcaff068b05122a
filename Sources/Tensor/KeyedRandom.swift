// Random numbers identified by what they are for, on top of Philox4x32-10.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif canImport(ucrt)
import ucrt
#endif

// MARK: - Purpose-keyed random streams

/// What a random draw is for. Raw values are part of the on-disk/wire contract: never renumber.
///
/// The raw value occupies 8 bits of the Philox counter (see `RandomKey`), so it must stay
/// below 256; 0 is deliberately unused.
public enum RandomPurpose: UInt32, Sendable, CaseIterable {
    case reparameterization = 1
    case reparameterizationTop = 2
    case binarization = 3
    case shuffle = 4
    case initialization = 5
    case sampling = 6
    case evaluation = 7
}

/// The identity of one stream of random draws: which run, epoch, item and purpose it serves.
///
/// A key maps to Philox4x32-10 as
///
///     philox key  = (seed mod 2^32, seed >> 32)
///     counter[0]  = block                                     (32 bits; position in the stream)
///     counter[1]  = index mod 2^32                            (index bits 0–31)
///     counter[2]  = (index >> 32) | purpose << 16 | stream << 24
///                   bits 0–15: index bits 32–47, bits 16–23: purpose, bits 24–31: stream
///     counter[3]  = epoch                                     (32 bits)
///
/// where `stream` is the variate family drawn from the key (`KeyedRandom.normalStream` = 0,
/// `KeyedRandom.uniformStream` = 1). The 128 counter bits split as 32 block + 48 index +
/// 8 purpose + 8 stream + 32 epoch, with no field overlapping another, so the map
/// `(block, index, purpose, stream, epoch) ↦ counter` is injective whenever
/// `index < 2^48`; and since Philox is a bijection for a fixed seed, distinct
/// `(key, block, stream)` under one seed never share an output block. This layout is part
/// of the on-disk/wire contract.
///
/// - Parameters:
///   - seed: the run seed; becomes the 64-bit Philox key.
///   - epoch: training epoch (or any 32-bit generation counter).
///   - index: which item the draw is for (example index, layer id, …); must be `< 2^48`.
///   - purpose: what the draw is for.
public struct RandomKey: Hashable, Sendable {
    public var seed: UInt64
    public var epoch: UInt32
    public var index: UInt64
    public var purpose: RandomPurpose

    /// Exclusive upper bound on `index` (2^48).
    public static let indexLimit: UInt64 = 1 << 48

    /// Creates a key; see the type's documentation for how the fields reach the counter.
    ///
    /// - Parameters:
    ///   - seed: the run seed.
    ///   - epoch: the epoch.
    ///   - index: the item index, `< 2^48` (checked when the key is used).
    ///   - purpose: what the draw is for.
    public init(seed: UInt64, epoch: UInt32, index: UInt64, purpose: RandomPurpose) {
        self.seed = seed
        self.epoch = epoch
        self.index = index
        self.purpose = purpose
    }

    /// The Philox key: `(seed mod 2^32, seed >> 32)`.
    public var philoxKey: Philox4x32_10.Key {
        (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The Philox counter of block `block` of variate stream `stream` for this key.
    ///
    ///     (block, index mod 2^32, (index >> 32) | purpose << 16 | stream << 24, epoch)
    ///
    /// - Parameters:
    ///   - block: position of the 4-word block within the stream.
    ///   - stream: variate family, `KeyedRandom.normalStream` or `KeyedRandom.uniformStream`.
    /// - Precondition: `index < 2^48` and `purpose.rawValue < 2^8`.
    public func philoxCounter(block: UInt32, stream: UInt8) -> Philox4x32_10.Counter {
        precondition(index < Self.indexLimit, "RandomKey.index must be < 2^48")
        precondition(purpose.rawValue < 256, "RandomPurpose raw value must fit in 8 bits")
        let word2 = UInt32(truncatingIfNeeded: index >> 32)
            | (purpose.rawValue << 16)
            | (UInt32(stream) << 24)
        return (block, UInt32(truncatingIfNeeded: index), word2, epoch)
    }
}

/// Random deviates for one `RandomKey`, each value a pure function of (key, position).
///
/// Nothing is stateful: the value at position `i` depends only on the key and `i`, never on
/// how many values were requested, in what chunks, or by which thread. Normal and uniform
/// deviates come from different counter streams (`normalStream`, `uniformStream`), so
/// drawing both kinds from one key gives independent values.
///
/// - Normals: value `i` uses block `i / 4` of the normal stream, words `w = (w0, w1, w2, w3)`;
///   with `u(w) = (w + 0.5) / 2^32 ∈ (0, 1)`, Box–Muller in `Double` gives
///   `r = √(−2 ln u(w0)), θ = 2π u(w1)` → values `4b, 4b+1 = r cos θ, r sin θ`, and the same
///   on `(w2, w3)` for values `4b+2, 4b+3`. Positions must be `< 2^34`.
/// - Uniforms: value `i` uses block `i / 2` of the uniform stream, words `(a, b) = (w0, w1)`
///   for even `i` and `(w2, w3)` for odd `i`; with `j = a · 2^20 + ⌊b / 2^12⌋` (52 bits),
///   the value is `(j + 0.5) / 2^52 = (2j + 1) / 2^53` — an odd multiple of 2^−53, exactly
///   representable, in `[2^−53, 1 − 2^−53]`, so never 0 or 1, and symmetric about ½.
///   Positions must be `< 2^33`.
///
/// Transcendental functions come from the platform libm, so normals are bit-identical
/// across runs on one platform but may differ in the last ulp between platforms; uniforms
/// are exact everywhere.
public struct KeyedRandom: Sendable {
    /// Stream tag (counter bits 120–127) of the normal deviates.
    public static let normalStream: UInt8 = 0
    /// Stream tag (counter bits 120–127) of the uniform deviates.
    public static let uniformStream: UInt8 = 1

    /// The key this generator draws for.
    public let key: RandomKey

    @usableFromInline internal let k0: UInt32
    @usableFromInline internal let k1: UInt32
    @usableFromInline internal let c1: UInt32
    /// Counter word 2 without the stream tag.
    @usableFromInline internal let c2: UInt32
    @usableFromInline internal let c3: UInt32

    /// Creates the generator for `key`.
    ///
    /// - Parameter key: the stream identity; `key.index` must be `< 2^48`.
    public init(_ key: RandomKey) {
        self.key = key
        let counter = key.philoxCounter(block: 0, stream: 0)   // validates the key
        (k0, k1) = key.philoxKey
        c1 = counter.1
        c2 = counter.2
        c3 = counter.3
    }

    /// Block `block` of stream `stream`: Philox4x32-10 of the counter documented on `RandomKey`.
    @inlinable @inline(__always)
    internal func words(block: UInt32, stream: UInt8) -> Philox4x32_10.Counter {
        Philox4x32_10.block(counter: (block, c1, c2 | (UInt32(stream) << 24), c3), key: (k0, k1))
    }

    /// `(w + 0.5) / 2^32`, a uniform in (0, 1) from one word (exact in `Double`).
    @inlinable @inline(__always)
    internal static func unit32(_ w: UInt32) -> Double {
        (Double(w) + 0.5) * 0x1p-32
    }

    /// `(j + 0.5) / 2^52` with `j = a · 2^20 + ⌊b / 2^12⌋`, a uniform in (0, 1) (exact in `Double`).
    @inlinable @inline(__always)
    internal static func unit53(_ a: UInt32, _ b: UInt32) -> Double {
        let j = (UInt64(a) << 20) | UInt64(b >> 12)
        return (Double(j) + 0.5) * 0x1p-52
    }

    /// Box–Muller on two words: `√(−2 ln u(a)) · (cos 2πu(b), sin 2πu(b))`.
    @inlinable @inline(__always)
    internal static func boxMuller(_ a: UInt32, _ b: UInt32) -> (Double, Double) {
        let r = (-2 * log(unit32(a))).squareRoot()
        let theta = 2 * Double.pi * unit32(b)
        return (r * cos(theta), r * sin(theta))
    }

    /// Fills `count` standard normal deviates (Box–Muller on pairs of uniforms, computed in Double),
    /// the i-th value a pure function of (key, i).
    ///
    /// Value `i` is the `(i mod 4)`-th Box–Muller output of normal-stream block `i / 4`
    /// (see the type's documentation); it is rounded to `T` once at the end.
    ///
    /// - Parameters:
    ///   - into: destination with room for `count` values; receives values `0 ..< count`.
    ///   - count: number of values, `0 ≤ count ≤ 2^34`.
    public func normals<T: BinaryFloatingPoint>(into: UnsafeMutablePointer<T>, count: Int) {
        normals(into: into, count: count, startingAt: 0)
    }

    /// Fills `count` standard normal deviates starting at stream position `startingAt`.
    ///
    /// Writes values `startingAt ..< startingAt + count` of the same sequence as
    /// `normals(into:count:)`, so a long stream can be produced in independent pieces.
    ///
    /// - Parameters:
    ///   - into: destination with room for `count` values.
    ///   - count: number of values, `≥ 0`.
    ///   - startingAt: position of the first value; `startingAt + count ≤ 2^34`.
    public func normals<T: BinaryFloatingPoint>(into out: UnsafeMutablePointer<T>, count: Int,
                                                startingAt first: UInt64) {
        precondition(count >= 0, "count must be non-negative")
        guard count > 0 else { return }
        let (end, overflow) = first.addingReportingOverflow(UInt64(count))
        precondition(!overflow && end <= (1 << 34), "normal positions must be < 2^34")
        let stream = Self.normalStream

        var i = first
        var o = 0
        // Leading partial block.
        if i & 3 != 0 {
            let b = i >> 2
            let z = blockNormals(block: UInt32(truncatingIfNeeded: b), stream: stream)
            let stop = min((b + 1) << 2, end)
            while i < stop {
                out[o] = T(Self.lane(z, Int(i & 3)))
                o += 1
                i += 1
            }
        }
        // Whole blocks.
        while end - i >= 4 {
            let w = words(block: UInt32(truncatingIfNeeded: i >> 2), stream: stream)
            let (z0, z1) = Self.boxMuller(w.0, w.1)
            let (z2, z3) = Self.boxMuller(w.2, w.3)
            out[o] = T(z0)
            out[o + 1] = T(z1)
            out[o + 2] = T(z2)
            out[o + 3] = T(z3)
            o += 4
            i += 4
        }
        // Trailing partial block.
        if i < end {
            let z = blockNormals(block: UInt32(truncatingIfNeeded: i >> 2), stream: stream)
            while i < end {
                out[o] = T(Self.lane(z, Int(i & 3)))
                o += 1
                i += 1
            }
        }
    }

    /// The four normals of one block.
    @inlinable @inline(__always)
    internal func blockNormals(block: UInt32, stream: UInt8) -> (Double, Double, Double, Double) {
        let w = words(block: block, stream: stream)
        let (z0, z1) = Self.boxMuller(w.0, w.1)
        let (z2, z3) = Self.boxMuller(w.2, w.3)
        return (z0, z1, z2, z3)
    }

    @inlinable @inline(__always)
    internal static func lane(_ z: (Double, Double, Double, Double), _ k: Int) -> Double {
        switch k {
        case 0: return z.0
        case 1: return z.1
        case 2: return z.2
        default: return z.3
        }
    }

    /// Uniforms in the open interval (0, 1), 53-bit (two 32-bit words per value), a pure function of (key, i).
    ///
    /// Value `i` is `(2j + 1) / 2^53` where `j` is the top 52 bits of the word pair
    /// `i mod 2` of uniform-stream block `i / 2` (see the type's documentation): a point of
    /// the 2^−53 grid, never 0 or 1.
    ///
    /// - Parameters:
    ///   - into: destination with room for `count` values; receives values `0 ..< count`.
    ///   - count: number of values, `0 ≤ count ≤ 2^33`.
    public func uniforms(into: UnsafeMutablePointer<Double>, count: Int) {
        uniforms(into: into, count: count, startingAt: 0)
    }

    /// Fills `count` uniforms in (0, 1) starting at stream position `startingAt`.
    ///
    /// Writes values `startingAt ..< startingAt + count` of the same sequence as
    /// `uniforms(into:count:)`.
    ///
    /// - Parameters:
    ///   - into: destination with room for `count` values.
    ///   - count: number of values, `≥ 0`.
    ///   - startingAt: position of the first value; `startingAt + count ≤ 2^33`.
    public func uniforms(into out: UnsafeMutablePointer<Double>, count: Int, startingAt first: UInt64) {
        precondition(count >= 0, "count must be non-negative")
        guard count > 0 else { return }
        let (end, overflow) = first.addingReportingOverflow(UInt64(count))
        precondition(!overflow && end <= (1 << 33), "uniform positions must be < 2^33")
        let stream = Self.uniformStream

        var i = first
        var o = 0
        if i & 1 != 0 {
            let w = words(block: UInt32(truncatingIfNeeded: i >> 1), stream: stream)
            out[o] = Self.unit53(w.2, w.3)
            o += 1
            i += 1
        }
        while end - i >= 2 {
            let w = words(block: UInt32(truncatingIfNeeded: i >> 1), stream: stream)
            out[o] = Self.unit53(w.0, w.1)
            out[o + 1] = Self.unit53(w.2, w.3)
            o += 2
            i += 2
        }
        if i < end {
            let w = words(block: UInt32(truncatingIfNeeded: i >> 1), stream: stream)
            out[o] = Self.unit53(w.0, w.1)
        }
    }

    /// A uniformly random permutation of `0 ..< count`, deterministic for `key`.
    ///
    /// Fisher–Yates from the top: with `u_s` the keyed uniforms of `key` (positions
    /// `s = 0 ..< count − 1`), step `s` sets `i = count − 1 − s`, `j = min(⌊u_s · (i + 1)⌋, i)`
    /// and swaps entries `i` and `j` of the identity array.
    ///
    /// - Parameters:
    ///   - count: number of elements, `0 ≤ count ≤ 2^33`.
    ///   - key: the stream identity (typically purpose `.shuffle`, index 0, the epoch).
    /// - Returns: an array holding each of `0 ..< count` exactly once.
    public static func permutation(count: Int, key: RandomKey) -> [Int] {
        precondition(count >= 0, "count must be non-negative")
        var perm = Array(0..<count)
        guard count > 1 else { return perm }
        let random = KeyedRandom(key)
        let steps = count - 1
        var buffer = [Double](repeating: 0, count: min(4096, steps))
        var s = 0
        perm.withUnsafeMutableBufferPointer { p in
            buffer.withUnsafeMutableBufferPointer { u in
                while s < steps {
                    let n = min(u.count, steps - s)
                    random.uniforms(into: u.baseAddress!, count: n, startingAt: UInt64(s))
                    for t in 0..<n {
                        let i = count - 1 - (s + t)
                        let j = min(Int(u[t] * Double(i + 1)), i)
                        p.swapAt(i, j)
                    }
                    s += n
                }
            }
        }
        return perm
    }
}
