// The SIMD plumbing and the kernels behind FastMath's entry points (see FastMath.swift for
// the method, the accuracy and the speed).

// MARK: - SIMD plumbing

/// Vector type of the array loops (SIMD16 measured fastest on SSE2: more independent work
/// per instruction than SIMD8, without the spilling of SIMD32).
@usableFromInline typealias _FastMathArrayVector = SIMD16<Float>

/// Vector type of the scalar entry points (every lane holds the input; lane 0 is returned).
@usableFromInline typealias _FastMathScalarVector = SIMD4<Float>

/// The `Float` SIMD vectors the kernels are written over (SIMD4/8/16 of Float).
///
/// Comparisons, selects and bit masking are protocol requirements so that, once specialised,
/// they resolve to each concrete type's builtin whole-vector operations. (The generic `SIMD`
/// versions are per-lane loops that LLVM does not reliably re-vectorise; it can even emit
/// per-lane branches.)
@usableFromInline
internal protocol _FastMathVector: SIMD where Scalar == Float, MaskStorage.Scalar == Int32 {
    /// Lane-wise `a < b` (false when either is NaN).
    static func _fmLess(_ a: Self, _ b: Self) -> SIMDMask<MaskStorage>
    /// Lane-wise `a == b` (false when either is NaN).
    static func _fmEqual(_ a: Self, _ b: Self) -> SIMDMask<MaskStorage>
    /// Lane-wise `m ? a : b`, as bitwise and / and-not / or.
    static func _fmSelect(_ m: SIMDMask<MaskStorage>, _ a: Self, _ b: Self) -> Self
    /// Bitwise `a & bits` on every lane.
    static func _fmAnd(_ a: Self, _ bits: Int32) -> Self
}

extension SIMD4: _FastMathVector where Scalar == Float {
    @usableFromInline typealias _FMMask = SIMDMask<SIMD4<Int32>>
    @inlinable @inline(__always)
    static func _fmLess(_ a: Self, _ b: Self) -> _FMMask { a .< b }
    @inlinable @inline(__always)
    static func _fmEqual(_ a: Self, _ b: Self) -> _FMMask { a .== b }
    @inlinable @inline(__always)
    static func _fmSelect(_ m: _FMMask, _ a: Self, _ b: Self) -> Self {
        let ma = unsafeBitCast(a, to: _FMMask.self), mb = unsafeBitCast(b, to: _FMMask.self)
        return unsafeBitCast(mb.replacing(with: ma, where: m), to: Self.self)
    }
    @inlinable @inline(__always)
    static func _fmAnd(_ a: Self, _ bits: Int32) -> Self {
        let k = unsafeBitCast(SIMD4<Int32>(repeating: bits), to: _FMMask.self)
        return unsafeBitCast(unsafeBitCast(a, to: _FMMask.self) .& k, to: Self.self)
    }
}

extension SIMD16: _FastMathVector where Scalar == Float {
    @usableFromInline typealias _FMMask = SIMDMask<SIMD16<Int32>>
    @inlinable @inline(__always)
    static func _fmLess(_ a: Self, _ b: Self) -> _FMMask { a .< b }
    @inlinable @inline(__always)
    static func _fmEqual(_ a: Self, _ b: Self) -> _FMMask { a .== b }
    @inlinable @inline(__always)
    static func _fmSelect(_ m: _FMMask, _ a: Self, _ b: Self) -> Self {
        let ma = unsafeBitCast(a, to: _FMMask.self), mb = unsafeBitCast(b, to: _FMMask.self)
        return unsafeBitCast(mb.replacing(with: ma, where: m), to: Self.self)
    }
    @inlinable @inline(__always)
    static func _fmAnd(_ a: Self, _ bits: Int32) -> Self {
        let k = unsafeBitCast(SIMD16<Int32>(repeating: bits), to: _FMMask.self)
        return unsafeBitCast(unsafeBitCast(a, to: _FMMask.self) .& k, to: Self.self)
    }
}

// MARK: - Kernels

extension FastMath {

    /// Applies `kernel` to `count` floats: whole vectors are loaded and stored unaligned; the
    /// tail is copied into a zero-padded vector and goes through the same kernel, so every
    /// element is computed by identical code. Each vector is loaded before its results are
    /// stored, so `x == y` (in place) is fine.
    @inlinable @inline(__always)
    internal static func _map<V: _FastMathVector>(
        _: V.Type, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
        _ kernel: (V) -> V
    ) {
        let width = V.scalarCount
        var i = 0
        while i &+ width <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: kernel(v), as: V.self)
            i &+= width
        }
        if i < count {
            let rest = count &- i
            var v = V()
            for j in 0..<rest { v[j] = x[i &+ j] }
            let r = kernel(v)
            for j in 0..<rest { y[i &+ j] = r[j] }
        }
    }

    @inlinable @inline(__always)
    internal static func _bits<V: _FastMathVector>(_ v: V) -> V.MaskStorage {
        unsafeBitCast(v, to: V.MaskStorage.self)
    }

    @inlinable @inline(__always)
    internal static func _float<V: _FastMathVector>(_ i: V.MaskStorage) -> V {
        unsafeBitCast(i, to: V.self)
    }

    /// `m ? a : b`, lane-wise.
    @inlinable @inline(__always)
    internal static func _select<V: _FastMathVector>(_ m: SIMDMask<V.MaskStorage>, _ a: V, _ b: V) -> V {
        V._fmSelect(m, a, b)
    }

    /// `|x|` (clears the sign bit).
    @inlinable @inline(__always)
    internal static func _abs<V: _FastMathVector>(_ x: V) -> V { V._fmAnd(x, Int32.max) }

    // The three helpers below are written as float selects (`replacing`) rather than with
    // `_select` so that LLVM recognises them as `minps` / `maxps`; the operand order makes a
    // NaN in `x` come out unchanged.

    /// `min(x, y)`; a NaN `x` is returned unchanged.
    @inlinable @inline(__always)
    internal static func _min<V: _FastMathVector>(_ x: V, _ y: V) -> V {
        x.replacing(with: y, where: V._fmLess(y, x))
    }

    /// `max(x, lo)`; a NaN `x` is returned unchanged.
    @inlinable @inline(__always)
    internal static func _max<V: _FastMathVector>(_ x: V, _ lo: Float) -> V {
        let l = V(repeating: lo)
        return x.replacing(with: l, where: V._fmLess(x, l))
    }

    /// `x` clamped to `[lo, hi]`; NaN lanes stay NaN.
    @inlinable @inline(__always)
    internal static func _clamp<V: _FastMathVector>(_ x: V, _ lo: Float, _ hi: Float) -> V {
        let h = V(repeating: hi), l = V(repeating: lo)
        let a = x.replacing(with: h, where: V._fmLess(h, x))
        return a.replacing(with: l, where: V._fmLess(a, l))
    }

    /// High part of ln 2 (15 significant bits, 0x3f317200): n * _ln2Hi is exact for |n| < 512.
    @inlinable static var _ln2Hi: Float { 0.693145751953125 }
    /// ln 2 - _ln2Hi.
    @inlinable static var _ln2Lo: Float { 1.42860677e-06 }
    /// 1 / ln 2 (0x3fb8aa3b).
    @inlinable static var _log2e: Float { 1.44269502 }
    /// 1.5 * 2^23: adding it to |t| < 2^22 rounds t to an integer held in the low mantissa bits.
    @inlinable static var _magic: Float { 12582912.0 }
    /// Bit pattern of `_magic`.
    @inlinable static var _magicBits: Int32 { 0x4B40_0000 }

    /// Cody-Waite reduction: x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2 (plus a
    /// rounding hair). Requires |x| < 2^21. Returns r and the bit pattern of
    /// k = magic + n, i.e. kBits = _magicBits + n.
    @inlinable @inline(__always)
    internal static func _reduce<V: _FastMathVector>(_ x: V) -> (r: V, kBits: V.MaskStorage) {
        let magic = V(repeating: _magic)
        let k = x * V(repeating: _log2e) + magic
        let nf = k - magic
        let r = (x - nf * V(repeating: _ln2Hi)) - nf * V(repeating: _ln2Lo)
        return (r, _bits(k))
    }

    /// `p * 2^n` for p in [0.7, 1.5] and n in [-150, 128] (given as kBits = _magicBits + n),
    /// rounded once: n = n1 + n2 with n1 = n >> 1, p * 2^n1 is exact and the second product
    /// rounds, so overflow gives +inf and underflow gives correctly rounded denormals or 0.
    /// Both steps are float multiplies, so a NaN `p` stays NaN whatever `kBits` holds.
    @inlinable @inline(__always)
    internal static func _scale<V: _FastMathVector>(_ p: V, _ kBits: V.MaskStorage) -> V {
        typealias I = V.MaskStorage
        // _magicBits is even, so kBits >> 1 = _magicBits/2 + n1 and kBits - (kBits >> 1) =
        // _magicBits/2 + n2; the exponent fields are (n1 + 127) << 23 and (n2 + 127) << 23.
        let bias = I(repeating: (127 &- _magicBits / 2) &<< 23)
        let h = (kBits &>> 1) &<< 23
        let a: V = _float(h &+ bias)                              // 2^n1
        let b: V = _float(((kBits &<< 23) &- h) &+ bias)          // 2^n2
        return (p * a) * b
    }

    /// exp(x) = 2^n e^r, e^r = 1 + r + r^2 P(r), P a degree-4 minimax polynomial.
    @inlinable @inline(__always)
    internal static func _exp<V: _FastMathVector>(_ x: V) -> V {
        // exp(89) overflows and exp(-104) < 2^-150 rounds to 0, so clamping to [-104, 89]
        // keeps n in range and lets the final product produce inf / denormals / 0.
        let (e, kBits) = _expParts(_clamp(x, -104, 89))
        return _scale(e, kBits)
    }

    /// For x in [-104, 89] (or NaN): e^x = e * 2^n with e = e^r in [0.7, 1.42] and n
    /// returned as kBits (see `_reduce`).
    @inlinable @inline(__always)
    internal static func _expParts<V: _FastMathVector>(_ x: V) -> (e: V, kBits: V.MaskStorage) {
        let (r, kBits) = _reduce(x)
        // P(r) = (c0 + c1 r) + r^2 ((c2 + c3 r) + c4 r^2), Estrin-style: a shorter dependency
        // chain than Horner, which matters more than the operation count here.
        let r2 = r * r
        let a = V(repeating: 1.66665211e-1) * r + V(repeating: 4.99999940e-1)
        let b = V(repeating: 8.36874545e-3) * r + V(repeating: 4.16683890e-2)
        let c = V(repeating: 1.38145476e-3) * r2 + b
        let p = c * r2 + a
        let e = (r2 * p + r) + V(repeating: 1)
        return (e, kBits)
    }

    /// expm1(x) = 2^n (1 + u) - 1 with u = expm1(r) = r + r^2 P(r), P a degree-5 minimax
    /// polynomial, evaluated as 2 ((2^(n-1) - 1/2) + 2^(n-1) u). The leading part
    /// (2^(n-1) - 1/2) + 2^(n-1) r_hi is kept as an exact hi + lo pair, so the cancellation
    /// for n = +-1, 2 does not magnify the rounding errors of r and u.
    @inlinable @inline(__always)
    internal static func _expm1<V: _FastMathVector>(_ x: V) -> V {
        // For x < -17.4 the result rounds to -1; clamping at -30 keeps 2^(n-1) normal.
        let xc = _clamp(x, -30, 89)
        let magic = V(repeating: _magic)
        let k = xc * V(repeating: _log2e) + magic
        let nf = k - magic
        let rHi = xc - nf * V(repeating: _ln2Hi)                 // exact
        let rLo = V(repeating: 0) - nf * V(repeating: _ln2Lo)
        let r = rHi + rLo
        let dr = (rHi - r) + rLo                                  // r + dr = rHi + rLo
        // P(r) = (c0 + c1 r) + r^2 (c2 + c3 r) + r^4 (c4 + c5 r)  (Estrin)
        let r2 = r * r
        let p01 = V(repeating: 1.66666657e-1) * r + V(repeating: 0.5)
        let p23 = V(repeating: 8.33338965e-3) * r + V(repeating: 4.16663587e-2)
        let p45 = V(repeating: 1.98458947e-4) * r + V(repeating: 1.39406684e-3)
        let p = (p45 * (r2 * r2) + p23 * r2) + p01
        // u = rHi + uLo; r * dr corrects for having evaluated the polynomial at r.
        let uLo = (r2 * p + r * dr) + rLo
        // s = 2^(n-1): exponent field (n - 1 + 127) = kBits - _magicBits + 126.
        let s: V = _float((_bits(k) &+ V.MaskStorage(repeating: 126 &- _magicBits)) &<< 23)
        let half = V(repeating: 0.5)
        let tHi = s - half                                        // exact unless n > 24
        let tLo = (s - tHi) - half                                // its rounding error
        let sr = s * rHi
        let aHi = tHi + sr
        let aLo = (tHi - aHi) + sr                                // aHi + aLo = tHi + sr
        let res = (aHi + ((aLo + tLo) + s * uLo)) * V(repeating: 2)
        // |x| < 2^-25: expm1(x) rounds to x (this also keeps -0 and denormals exact).
        return _select(V._fmLess(_abs(x), V(repeating: 2.98023224e-8)), x, res)
    }

    /// ln(u) + corr for positive, normal, finite u whose exponent is to be adjusted by
    /// `eAdjust`. u = 2^e m with m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f):
    /// ln(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R(s^2))), R(z) = z (a0 + a1 z + a2 z^2)
    /// minimax; ln(u) = (e ln2_hi + f_hi) + (f_lo + ((corr + e ln2_lo) - (f^2/2 - s (...)))),
    /// where f_hi (f rounded to a multiple of 2^-15) makes e ln2_hi + f_hi exact.
    @inlinable @inline(__always)
    internal static func _logCore<V: _FastMathVector>(_ u: V, _ eAdjust: V, _ corr: V) -> V {
        typealias I = V.MaskStorage
        let ix = _bits(u) &- I(repeating: 0x3f35_04f3)            // bits of sqrt(1/2)
        let m: V = _float((ix & I(repeating: 0x007f_ffff)) &+ I(repeating: 0x3f35_04f3))
        let eBits = (ix &>> 23) &+ I(repeating: _magicBits)
        let e = (_float(eBits) - V(repeating: _magic)) + eAdjust
        let f = m - V(repeating: 1)                               // exact
        let s = f / (f + V(repeating: 2))
        let z = s * s
        let R = z * ((V(repeating: 0.298744202) * z + V(repeating: 0.399774492)) * z
                     + V(repeating: 0.666667759))
        let hfsq = (V(repeating: 0.5) * f) * f
        let c = V(repeating: 384)                                 // 1.5 * 2^8
        let fHi = (f + c) - c
        let fLo = f - fHi
        // The small terms are summed first so that when e ln2_hi + f_hi = 0 (u near 1) the
        // result f + (small) is rounded only once.
        let lo = fLo + ((corr + e * V(repeating: _ln2Lo)) - (hfsq - s * (hfsq + R)))
        return (e * V(repeating: _ln2Hi) + fHi) + lo
    }

    @inlinable @inline(__always)
    internal static func _log<V: _FastMathVector>(_ x: V) -> V {
        // Denormal inputs are scaled by 2^23 first (lanes <= 0 are overwritten below).
        let isDenormal = V._fmLess(x, V(repeating: Float.leastNormalMagnitude))
        let u = _select(isDenormal, x * V(repeating: 8388608.0), x)
        let eAdjust = _select(isDenormal, V(repeating: -23), V(repeating: 0))
        var res = _logCore(u, eAdjust, V(repeating: 0))
        res = _select(V._fmLess(x, V(repeating: .infinity)), res, x)          // +inf, NaN
        res = _select(V._fmLess(x, V(repeating: 0)), V(repeating: .nan), res)
        return _select(V._fmEqual(x, V(repeating: 0)), V(repeating: -.infinity), res)
    }

    @inlinable @inline(__always)
    internal static func _log1p<V: _FastMathVector>(_ x: V) -> V {
        // u = fl(1 + x); ln(1 + x) = ln(u) + c/u with c = (1 + x) - u = x - (u - 1) exactly
        // (for huge x the correction is negligible anyway).
        let one = V(repeating: 1)
        let u = one + x
        let corr = (x - (u - one)) / u
        var res = _logCore(u, V(repeating: 0), corr)
        res = _select(V._fmLess(u, V(repeating: .infinity)), res, u)          // +inf, NaN
        res = _select(V._fmLess(u, V(repeating: 0)), V(repeating: .nan), res)
        res = _select(V._fmEqual(u, V(repeating: 0)), V(repeating: -.infinity), res)
        return _select(V._fmEqual(x, V(repeating: 0)), x, res)                // keeps -0
    }

    @inlinable @inline(__always)
    internal static func _sigmoid<V: _FastMathVector>(_ x: V) -> V {
        // sigmoid = e^x / (1 + e^x) = e / (2^-n + e), e^x = e 2^n. x is clamped to
        // [-88.5, 88], so n is in [-128, 127] and 2^-n is built from its bits:
        // n = 127 gives 2^-n = +0 (result exactly 1); n = -128 gives +inf (result +0, i.e.
        // results below ~4e-39 flush to zero); n = -127 divides by 2^127 and rounds once to
        // the correct denormal. For x > 0 the error of e enters only scaled by 2^-n/(2^-n + e).
        typealias I = V.MaskStorage
        let (e, kBits) = _expParts(_clamp(x, -88.5, 88))
        // exponent field of 2^-n: 127 - n = (127 + _magicBits) - kBits
        let invScale: V = _float(I(repeating: (127 &+ _magicBits) &<< 23) &- (kBits &<< 23))
        return e / (invScale + e)
    }

    @inlinable @inline(__always)
    internal static func _softplus<V: _FastMathVector>(_ x: V) -> V {
        // max(x, 0) + ln(1 + t), t = e^-|x| in [0, 1], with log1p's correction term.
        let one = V(repeating: 1)
        let negAbs = _max(_min(x, V(repeating: 0) - x), -104)    // -|x| clamped; NaN kept
        let (e, kBits) = _expParts(negAbs)
        let t = _scale(e, kBits)
        let u = one + t
        let v = u - one                                           // exact (u in [1, 2])
        // c/u with c = t - v and 1/u ~ 1 - v + v^2/2 (exact at v = 0, < 7% off elsewhere,
        // and |c| <= ulp(u)/2, so the approximation costs < 0.04 ulp).
        let corr = (t - v) * ((V(repeating: 0.5) * v - one) * v + one)
        let lp = _logCore(u, V(repeating: 0), corr)
        let zero = V(repeating: 0)
        return _select(V._fmLess(zero, x), x, zero) + lp
    }
}
