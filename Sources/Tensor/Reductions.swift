/// Stable reductions over raw row-major buffers.
public enum Reduce {
    /// The sum of `count` values by pairwise summation: error O(log n · ε) instead of O(n · ε).
    @inlinable
    public static func sum<T: Scalar>(_ x: UnsafePointer<T>, count: Int) -> T {
        if count <= 16 {
            var s: T = 0
            for i in 0..<count { s += x[i] }
            return s
        }
        let half = count / 2
        return sum(x, count: half) + sum(x + half, count: count - half)
    }

    /// Per-row log-sum-exp of a `[rows, columns]` matrix, with the row maximum subtracted first.
    /// ```
    /// out[r] = m_r + log Σ_c exp(x[r, c] − m_r),   m_r = max_c x[r, c]
    /// ```
    /// When `softmax` is given it receives `exp(x[r, c] − out[r])`, the row's normalised weights.
    /// - Parameters:
    ///   - x: `[rows, columns]`, leading dimension `columns`.
    ///   - out: `[rows]`.
    ///   - softmax: optional `[rows, columns]` output; may alias `x`.
    @inlinable
    public static func logSumExp<T: Scalar>(rows: Int, columns: Int, _ x: UnsafePointer<T>,
                                            into out: UnsafeMutablePointer<T>,
                                            softmax: UnsafeMutablePointer<T>? = nil,
                                            scratch: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let row = x + r * columns
            var m = -T.infinity
            for c in 0..<columns where row[c] > m { m = row[c] }
            if m == -T.infinity || !m.isFinite {
                out[r] = m
                if let s = softmax { for c in 0..<columns { s[r * columns + c] = T.nan } }
                continue
            }
            for c in 0..<columns { scratch[c] = row[c] - m }
            T.exp(scratch, scratch, count: columns)
            let total = sum(scratch, count: columns)
            let lse = m + T.fastLog(total)
            out[r] = lse
            if let s = softmax {
                let inv = 1 / total
                for c in 0..<columns { s[r * columns + c] = scratch[c] * inv }
            }
        }
    }

    /// Adds the rows of a `[rows, columns]` matrix into `out[columns]`:
    /// ```
    /// out[c] += Σ_r x[r, c]
    /// ```
    @inlinable
    public static func addColumnSums<T: Scalar>(rows: Int, columns: Int, _ x: UnsafePointer<T>,
                                                into out: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let row = x + r * columns
            for c in 0..<columns { out[c] += row[c] }
        }
    }
}
