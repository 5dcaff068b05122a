import Foundation

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014; the seeding generator of xoshiro): a 64-bit
/// generator that walks a Weyl sequence and scrambles each state.
///
/// ```
/// state ← state + 0x9E3779B97F4A7C15                       (mod 2⁶⁴)
/// z ← (state ⊕ (state ≫ 30)) · 0xBF58476D1CE4E5B9
/// z ← (z ⊕ (z ≫ 27)) · 0x94D049BB133111EB
/// output z ⊕ (z ≫ 31)
/// ```
///
/// Used for the one-off shuffle of Frey Faces, which must be the same on every machine for
/// a given seed; it is not used for training noise (that is Philox, keyed by purpose).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose first output is derived from `seed + 0x9E3779B97F4A7C15`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound`, without bias (Lemire's multiply-and-reject).
    ///
    /// ```
    /// m = next() · bound  (128-bit);  reject while low64(m) < (2⁶⁴ − bound) mod bound;  return high64(m)
    /// ```
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// A permutation of `0..<count` determined by `seed`: Fisher–Yates from the identity.
    ///
    /// ```
    /// p = [0, 1, …, count − 1]
    /// for i = count − 1 down to 1:  j = next(below: i + 1);  swap p[i], p[j]
    /// ```
    ///
    /// - Parameters:
    ///   - count: length of the permutation.
    ///   - seed: the generator's seed.
    public static func permutation(count: Int, seed: UInt64) -> [Int] {
        precondition(count >= 0, "count must not be negative")
        var generator = SplitMix64(seed: seed)
        var p = Array(0..<count)
        var i = count - 1
        while i > 0 {
            let j = Int(generator.next(below: UInt64(i + 1)))
            p.swapAt(i, j)
            i -= 1
        }
        return p
    }
}
