#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Thin wrappers over CBLAS (OpenBLAS on Linux, Accelerate on macOS), row-major only.
public enum BLAS {
    /// When true, GEMM calls add their floating-point operations (2·m·n·k) to `flopCount`.
    /// Only for measuring a step's arithmetic on one thread; not synchronised.
    nonisolated(unsafe) public static var countFlops = false
    nonisolated(unsafe) public static var flopCount = 0

    /// `C = alpha · op(A) · op(B) + beta · C` in single precision, row-major.
    @inlinable
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension")
        if m == 0 || n == 0 { return }
        if countFlops { flopCount += 2 * m * n * k }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C = alpha · op(A) · op(B) + beta · C` in double precision, row-major.
    @inlinable
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Double, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension")
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of threads BLAS uses inside one call. Bit-identical training needs a fixed
    /// count (1 by default): OpenBLAS splits long inner dimensions differently per thread count.
    public static var threads: Int {
        get {
            #if canImport(Accelerate)
            return 1
            #else
            return Int(openblas_get_num_threads())
            #endif
        }
        set {
            #if !canImport(Accelerate)
            openblas_set_num_threads(Int32(newValue))
            #endif
        }
    }
}
