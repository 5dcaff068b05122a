import XCTest
import CKernels

/// `largevae_copy_streaming_f32`, which writes the coordinator's next parameter version: every
/// bit copied (NaN payloads and −0 too) for any alignment and length, and nothing written past
/// the end.
final class StreamingCopyTests: XCTestCase {
    func testCopy_AnyAlignmentAndLength_ExactBits_NothingPastTheEnd() {
        let guardBits: UInt32 = 0xDEAD_BEEF
        var source = [Float](repeating: 0, count: 1100)
        for i in source.indices { source[i] = Float(bitPattern: UInt32(truncatingIfNeeded: i &* 2_654_435_761)) }
        source[3] = -0.0
        source[5] = Float(bitPattern: 0x7FC0_1234)   // a NaN with a payload
        for offset in 0..<8 {
            for n in [0, 1, 3, 15, 16, 17, 31, 64, 100, 1000] {
                var destination = [Float](repeating: Float(bitPattern: guardBits), count: n + 16)
                destination.withUnsafeMutableBufferPointer { d in
                    source.withUnsafeBufferPointer { s in
                        largevae_copy_streaming_f32(d.baseAddress! + offset, s.baseAddress! + 7, n)
                    }
                }
                for i in 0..<destination.count {
                    let expected = i >= offset && i < offset + n ? source[7 + i - offset].bitPattern : guardBits
                    XCTAssertEqual(destination[i].bitPattern, expected, "offset \(offset), n \(n), element \(i)")
                }
            }
        }
    }
}
