import XCTest
import Transport

/// The finiteness check the coordinator runs on every result: one NaN or infinity anywhere
/// (any block, any alignment) is found, and finite extremes pass.
final class FiniteCheckTests: XCTestCase {
    func check(_ bits: [UInt64], width: Int, _ encoding: FiniteCheck.Encoding, offset: Int) -> Bool {
        var bytes = [UInt8](repeating: 0, count: offset + bits.count * width)
        for (i, b) in bits.enumerated() {
            for k in 0..<width { bytes[offset + i * width + k] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(k))) }
        }
        return bytes.withUnsafeBytes { FiniteCheck.allFinite(UnsafeRawBufferPointer(rebasing: $0[offset...]), encoding) }
    }

    func testEveryPositionAndEncoding() {
        let cases: [(FiniteCheck.Encoding, Int, finite: [UInt64], bad: [UInt64])] = [
            (.float32, 4, [UInt64(Float.greatestFiniteMagnitude.bitPattern), UInt64((-Float.leastNonzeroMagnitude).bitPattern), 0],
             [UInt64(Float.nan.bitPattern), UInt64(Float.infinity.bitPattern), UInt64((-Float.infinity).bitPattern), 0xFFFF_FFFF]),
            (.bfloat16, 2, [0x7F7F, 0xFF7F, 0x0001, 0x8000], [0x7F80, 0xFF80, 0x7FC0, 0xFFFF]),
            (.float64, 8, [Double.greatestFiniteMagnitude.bitPattern, (-Double.leastNonzeroMagnitude).bitPattern],
             [Double.nan.bitPattern, Double.infinity.bitPattern, (-Double.infinity).bitPattern, UInt64.max]),
        ]
        for (encoding, width, finite, bad) in cases {
            for n in [0, 1, 1023, 1024, 1025, 3000] {
                let values = (0..<n).map { finite[$0 % finite.count] }
                for offset in 0..<3 { XCTAssertTrue(check(values, width: width, encoding, offset: offset), "\(encoding) n=\(n)") }
                guard n > 0 else { continue }
                for position in Set([0, n / 2, n - 1]) {
                    for b in bad {
                        var v = values
                        v[position] = b
                        XCTAssertFalse(check(v, width: width, encoding, offset: 1), "\(encoding) n=\(n) at \(position): \(b)")
                    }
                }
            }
        }
    }
}
