// Philox4x32-10 counter-based random numbers and the purpose-keyed streams built on them.
//
// Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw,
// "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11 (Random123).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif canImport(ucrt)
import ucrt
#endif

// MARK: - Philox4x32-10

/// The Philox4x32-10 keyed bijection on 128-bit counters (Salmon et al., SC'11).
///
/// One round maps counter words `(x0, x1, x2, x3)` under round key `(k0, k1)` to
///
///     (hi0, lo0) = M0 · x0      (full 64-bit product, M0 = 0xD2511F53)
///     (hi1, lo1) = M1 · x2      (full 64-bit product, M1 = 0xCD9E8D57)
///     (x0, x1, x2, x3) ← (hi1 ⊕ x1 ⊕ k0,  lo1,  hi0 ⊕ x3 ⊕ k1,  lo0)
///
/// Ten rounds are applied; between consecutive rounds the key is bumped by the Weyl
/// increments `(k0, k1) ← (k0 + 0x9E3779B9, k1 + 0xBB67AE85) mod 2^32`. The result agrees
/// with Random123's `philox4x32_R(10, ctr, key)` (see the known-answer tests).
public struct Philox4x32_10 {
    /// Four 32-bit counter words, in Random123 order (`ctr.v[0]` … `ctr.v[3]`).
    public typealias Counter = (UInt32, UInt32, UInt32, UInt32)
    /// Two 32-bit key words, in Random123 order (`key.v[0]`, `key.v[1]`).
    public typealias Key = (UInt32, UInt32)

    /// Number of rounds.
    public static let rounds = 10
    /// Round multipliers `(M0, M1)`.
    public static let multipliers: (UInt32, UInt32) = (0xD251_1F53, 0xCD9E_8D57)
    /// Weyl key increments `(W0, W1)` (golden ratio and √3 − 1, scaled by 2^32).
    public static let weylIncrements: (UInt32, UInt32) = (0x9E37_79B9, 0xBB67_AE85)

    /// Encrypts one counter block under `key`: ten Philox rounds with the key schedule above.
    ///
    /// The map `counter ↦ block(counter, key)` is a bijection for every key, so distinct
    /// counters under one key never produce the same output block.
    ///
    /// - Parameters:
    ///   - counter: the 128-bit input block.
    ///   - key: the 64-bit key.
    /// - Returns: the 128-bit output block, four uniformly distributed 32-bit words.
    @inlinable @inline(__always)
    public static func block(counter: Counter, key: Key) -> Counter {
        var (x0, x1, x2, x3) = counter
        var (k0, k1) = key
        // Round 1, then nine (bump key, round) pairs.
        (x0, x1, x2, x3) = round(x0, x1, x2, x3, k0, k1)
        for _ in 1..<10 {
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
            (x0, x1, x2, x3) = round(x0, x1, x2, x3, k0, k1)
        }
        return (x0, x1, x2, x3)
    }

    /// One Philox S-P round: two 32×32→64 multiplies, then the xor/permute step.
    @inlinable @inline(__always)
    internal static func round(_ x0: UInt32, _ x1: UInt32, _ x2: UInt32, _ x3: UInt32,
                               _ k0: UInt32, _ k1: UInt32) -> Counter {
        let p0 = UInt32(0xD251_1F53).multipliedFullWidth(by: x0)
        let p1 = UInt32(0xCD9E_8D57).multipliedFullWidth(by: x2)
        return (p1.high ^ x1 ^ k0, p1.low, p0.high ^ x3 ^ k1, p0.low)
    }
}
