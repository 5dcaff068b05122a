import RealModule

/// The element types the engine computes in: `Float` for training, `Double` for exact gradient checks.
///
/// Each conforming type supplies its BLAS GEMM and its vectorised elementwise kernels, so that
/// generic layer code issues one call per buffer and the per-element loop is concrete.
public protocol Scalar: BinaryFloatingPoint, Real, SIMDScalar, Codable, Sendable
where Self.RawSignificand: FixedWidthInteger {
    /// Row-major general matrix multiply through CBLAS:
    /// ```
    /// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C[m, n]
    /// ```
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

    /// `y[i] = exp(x[i])` for `i in 0..<count`; `x` and `y` may alias.
    static func exp(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = log(x[i])`; `x` and `y` may alias.
    static func log(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = 1 / (1 + exp(-x[i]))`; `x` and `y` may alias.
    static func sigmoid(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = log(1 + exp(x[i]))`, stable for large `|x|`; `x` and `y` may alias.
    static func softplus(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = exp(x[i]) - 1`, accurate near 0; `x` and `y` may alias.
    static func expm1(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = log(1 + x[i])`, accurate near 0; `x` and `y` may alias.
    static func log1p(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)

    /// Scalar forms that return exactly the bits of the vector kernels.
    static func fastExp(_ x: Self) -> Self
    static func fastLog(_ x: Self) -> Self
    static func fastSigmoid(_ x: Self) -> Self
    static func fastSoftplus(_ x: Self) -> Self
    static func fastExpm1(_ x: Self) -> Self
    static func fastLog1p(_ x: Self) -> Self
}

extension Float: Scalar {
    @inlinable
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    @inlinable public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.exp(x, y, count: count) }
    @inlinable public static func log(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.log(x, y, count: count) }
    @inlinable public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.sigmoid(x, y, count: count) }
    @inlinable public static func softplus(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.softplus(x, y, count: count) }
    @inlinable public static func expm1(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.expm1(x, y, count: count) }
    @inlinable public static func log1p(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { FastMath.log1p(x, y, count: count) }
    @inlinable public static func fastExp(_ x: Float) -> Float { FastMath.exp(x) }
    @inlinable public static func fastLog(_ x: Float) -> Float { FastMath.log(x) }
    @inlinable public static func fastSigmoid(_ x: Float) -> Float { FastMath.sigmoid(x) }
    @inlinable public static func fastSoftplus(_ x: Float) -> Float { FastMath.softplus(x) }
    @inlinable public static func fastExpm1(_ x: Float) -> Float { FastMath.expm1(x) }
    @inlinable public static func fastLog1p(_ x: Float) -> Float { FastMath.log1p(x) }
}

/// `Double` is the reference type: its kernels are plain libm loops, exact to the last ulp of libm.
extension Double: Scalar {
    @inlinable
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        BLAS.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    @inlinable public static func exp(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = Double.exp(x[i]) } }
    @inlinable public static func log(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = Double.log(x[i]) } }
    @inlinable public static func sigmoid(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = fastSigmoid(x[i]) } }
    @inlinable public static func softplus(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = fastSoftplus(x[i]) } }
    @inlinable public static func expm1(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = Double.expMinusOne(x[i]) } }
    @inlinable public static func log1p(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) { for i in 0..<count { y[i] = Double.log(onePlus: x[i]) } }
    @inlinable public static func fastExp(_ x: Double) -> Double { Double.exp(x) }
    @inlinable public static func fastLog(_ x: Double) -> Double { Double.log(x) }
    @inlinable public static func fastSigmoid(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + Double.exp(-x)) : Double.exp(x) / (1 + Double.exp(x))
    }
    @inlinable public static func fastSoftplus(_ x: Double) -> Double { Swift.max(x, 0) + Double.log(onePlus: Double.exp(-Swift.abs(x))) }
    @inlinable public static func fastExpm1(_ x: Double) -> Double { Double.expMinusOne(x) }
    @inlinable public static func fastLog1p(_ x: Double) -> Double { Double.log(onePlus: x) }
}
