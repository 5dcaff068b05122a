import CKernels

/// Whether raw little-endian payload values are all finite (no NaN, no ±infinity): the
/// coordinator's check of every result before it may reach the reduction.
public enum FiniteCheck {
    /// The element encodings a payload section may hold.
    public enum Encoding: Int, Sendable {
        case bfloat16 = 2, float32 = 4, float64 = 8
    }

    /// True when every whole element of `bytes` in `encoding` is finite; a trailing partial
    /// element is ignored (sizes are checked separately).
    public static func allFinite(_ bytes: UnsafeRawBufferPointer, _ encoding: Encoding) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count / encoding.rawValue
        switch encoding {
        case .bfloat16: return largevae_all_finite_bf16(base, n) != 0
        case .float32: return largevae_all_finite_f32(base, n) != 0
        case .float64: return largevae_all_finite_f64(base, n) != 0
        }
    }
}
