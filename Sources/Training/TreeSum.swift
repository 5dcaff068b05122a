import Tensor

/// Sums of unit results in a fixed binary tree over unit indices, accumulated in Float64.
///
/// ```
/// node(lo, size) = node(lo, size/2) + node(lo + size/2, size/2)   // size a power of two
/// leaf u = Double(x_u)
/// total = node(0, 2^⌈log2 n⌉), with nodes past n empty
/// ```
/// The tree depends only on the number of units, so any grouping of units across workers, and any
/// worker that pre-sums a whole aligned subtree, gives the same bits.
public enum TreeSum {
    /// Elements per block of a blocked sum.
    public static let block = 2048

    /// Float64 scratch that `sum(leafCount:…)` needs for `leafCount` leaves.
    public static func scratchCount(leafCount: Int) -> Int {
        var levels = 0
        while (1 << levels) < leafCount { levels += 1 }
        return (levels + 1) * block
    }

    /// `out[i] = Σ_u leaves[u][i]` for `i in 0..<count`, in tree order. `out` is overwritten.
    public static func sum<T: Scalar>(_ leaves: [UnsafePointer<T>], count: Int, into out: UnsafeMutablePointer<Double>) {
        let n = scratchCount(leafCount: leaves.count)
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: n)
        defer { scratch.deallocate() }
        sum(leafCount: leaves.count, leaf: { leaves[$0] }, count: count, into: out, scratch: scratch)
    }

    /// The same sum without allocating: leaf u is `leaf(u)`, and `scratch` holds
    /// `scratchCount(leafCount:)` elements.
    public static func sum<T: Scalar>(leafCount: Int, leaf: (Int) -> UnsafePointer<T>, count: Int,
                                      into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        precondition(leafCount > 0, "a tree sum needs at least one leaf")
        var size = 1
        while size < leafCount { size *= 2 }
        var start = 0
        while start < count {
            let n = Swift.min(block, count - start)
            node(leafCount, leaf, lo: 0, size: size, offset: start, n: n, into: out + start, scratch: scratch)
            start += n
        }
    }

    /// The tree sum of elements `offset ..< offset + n` (`n ≤ block`) into `out`, with `scratch`
    /// of `scratchCount(leafCount:)` elements: the building block for fused reductions.
    public static func block<T: Scalar>(leafCount: Int, leaf: (Int) -> UnsafePointer<T>, offset: Int, n: Int,
                                        into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        precondition(leafCount > 0 && n <= block)
        var size = 1
        while size < leafCount { size *= 2 }
        node(leafCount, leaf, lo: 0, size: size, offset: offset, n: n, into: out, scratch: scratch)
    }

    /// Writes node(lo, size) for elements `offset ..< offset + n` into `out`; false when empty.
    @discardableResult
    static func node<T: Scalar>(_ leafCount: Int, _ leaf: (Int) -> UnsafePointer<T>, lo: Int, size: Int, offset: Int, n: Int,
                                into out: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) -> Bool {
        if lo >= leafCount { return false }
        if size == 1 {
            convert(leaf(lo) + offset, into: out, count: n)
            return true
        }
        let half = size / 2
        node(leafCount, leaf, lo: lo, size: half, offset: offset, n: n, into: out, scratch: scratch + block)
        if node(leafCount, leaf, lo: lo + half, size: half, offset: offset, n: n, into: scratch, scratch: scratch + block) {
            add(scratch, into: out, count: n)
        }
        return true
    }

    /// `out[i] = Double(x[i])`, four lanes at a time (the same per-element conversion as a loop).
    @inline(__always)
    static func convert<T: Scalar>(_ x: UnsafePointer<T>, into out: UnsafeMutablePointer<Double>, count n: Int) {
        var i = 0
        if T.self == Float.self {
            let xf = UnsafeRawPointer(x)
            while i + 4 <= n {
                let v = SIMD4<Double>(xf.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self))
                UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: SIMD4<Double>.self)
                i += 4
            }
        }
        while i < n { out[i] = Double(x[i]); i += 1 }
    }

    /// `out[i] += y[i]`, four lanes at a time.
    @inline(__always)
    static func add(_ y: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count n: Int) {
        var i = 0
        while i + 4 <= n {
            let a = UnsafeRawPointer(out + i).loadUnaligned(as: SIMD4<Double>.self)
            let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Double>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: a + b, as: SIMD4<Double>.self)
            i += 4
        }
        while i < n { out[i] += y[i]; i += 1 }
    }

    /// `out[i] = T(scale · x[i])`; returns `Σ x[i]·0`, which is 0 exactly when every x[i] is finite.
    @inline(__always)
    static func finish<T: Scalar>(_ x: UnsafePointer<Double>, scale: Double, into out: UnsafeMutablePointer<T>,
                                  count n: Int) -> Double {
        var i = 0, finite = SIMD4<Double>(repeating: 0)
        if T.self == Float.self {
            let o = UnsafeMutableRawPointer(out)
            while i + 4 <= n {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Double>.self)
                o.storeBytes(of: SIMD4<Float>(v * scale), toByteOffset: 4 * i, as: SIMD4<Float>.self)
                finite += v * 0
                i += 4
            }
        }
        var tail = 0.0
        while i < n { out[i] = T(x[i] * scale); tail += x[i] * 0; i += 1 }
        return finite.sum() + tail
    }

    /// The finished tree sum of elements `offset ..< offset + n` (`n ≤ block`), optionally plus a
    /// second tree (`secondCount` leaves `secondLeaf(c)`, read from `secondOffset`):
    /// `out[i] = T(scale · (Σ_u leaf(u)[i] + Σ_c secondLeaf(c)[i]))`, each sum in tree order in
    /// Float64; returns the finiteness sum (0 exactly when every sum is finite). Trees of one or two
    /// leaves take a single pass; `scratch` needs `scratchCount(leafCount:) + 2 · block` elements
    /// otherwise.
    public static func mean<T: Scalar>(leafCount: Int, leaf: (Int) -> UnsafePointer<T>, offset: Int,
                                       secondCount: Int = 0, secondLeaf: ((Int) -> UnsafePointer<T>)? = nil,
                                       secondOffset: Int = 0, n: Int, scale: Double, into out: UnsafeMutablePointer<T>,
                                       scratch: UnsafeMutablePointer<Double>) -> Double {
        let second = secondCount > 0 ? secondLeaf : nil
        if leafCount <= 2 && secondCount <= 2 {
            return smallTreesFinish(leaf(0) + offset, leafCount == 2 ? leaf(1) + offset : nil,
                                    second.map { $0(0) + secondOffset }, secondCount == 2 ? second.map { $0(1) + secondOffset } : nil,
                                    scale: scale, into: out, count: n)
        }
        let root = scratch, extra = scratch + self.block, tree = scratch + 2 * self.block
        block(leafCount: leafCount, leaf: leaf, offset: offset, n: n, into: root, scratch: tree)
        if let second {
            block(leafCount: secondCount, leaf: second, offset: secondOffset, n: n, into: extra, scratch: tree)
            add(extra, into: root, count: n)
        }
        return finish(root, scale: scale, into: out, count: n)
    }

    /// A tree of one leaf, finished: `out[i] = T(scale · Double(x[i]))`, as `convert` then
    /// `finish` would; returns the finiteness sum.
    public static func single<T: Scalar>(_ x: UnsafePointer<T>, scale: Double, into out: UnsafeMutablePointer<T>, count n: Int) -> Double {
        smallTreesFinish(x, nil, nil, nil, scale: scale, into: out, count: n)
    }

    /// One or two small trees finished in one pass: a tree of one leaf `a` or two leaves `a, b`,
    /// plus optionally a second such tree `c[, d]`:
    /// `out[i] = T(scale · ((a[i] + b[i]) + (c[i] + d[i])))`, every sum in Float64 and each tree
    /// left out when absent, exactly as `block`, `add` and `finish` would; returns the finiteness sum.
    @inline(__always)
    static func smallTreesFinish<T: Scalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>?,
                                            _ c: UnsafePointer<T>?, _ d: UnsafePointer<T>?,
                                            scale: Double, into out: UnsafeMutablePointer<T>, count n: Int) -> Double {
        var i = 0, finite = SIMD4<Double>(repeating: 0)
        if T.self == Float.self {
            let ra = UnsafeRawPointer(a), rb = b.map(UnsafeRawPointer.init), rc = c.map(UnsafeRawPointer.init)
            let rd = d.map(UnsafeRawPointer.init), o = UnsafeMutableRawPointer(out)
            while i + 4 <= n {
                let at = 4 * i
                var v = SIMD4<Double>(ra.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self))
                if let rb { v += SIMD4<Double>(rb.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self)) }
                if let rc {
                    var second = SIMD4<Double>(rc.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self))
                    if let rd { second += SIMD4<Double>(rd.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self)) }
                    v += second
                }
                o.storeBytes(of: SIMD4<Float>(v * scale), toByteOffset: 4 * i, as: SIMD4<Float>.self)
                finite += v * 0
                i += 4
            }
        }
        var tail = 0.0
        while i < n {
            var v = Double(a[i])
            if let b { v += Double(b[i]) }
            if let c {
                var second = Double(c[i])
                if let d { second += Double(d[i]) }
                v += second
            }
            out[i] = T(v * scale)
            tail += v * 0
            i += 1
        }
        return finite.sum() + tail
    }
}
