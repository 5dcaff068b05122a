import Foundation
import Checksums

/// TFRecord framing, the container of TensorBoard event files.
///
/// ```
/// uint64 length            (little-endian)
/// uint32 masked_crc32c(length bytes)
/// byte   data[length]
/// uint32 masked_crc32c(data)
/// ```
public enum TFRecord {
    /// Frames one record.
    ///
    /// - Parameter payload: the record's data (a serialized protocol buffer).
    /// - Returns: `16 + payload.count` bytes.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(payload.count + 16)
        let length = littleEndianBytes(UInt64(payload.count))
        record.append(contentsOf: length)
        record.append(contentsOf: littleEndianBytes(CRC32C.masked(CRC32C.checksum(length))))
        record.append(contentsOf: payload)
        record.append(contentsOf: littleEndianBytes(CRC32C.masked(CRC32C.checksum(payload))))
        return record
    }
}

/// The little-endian bytes of a fixed-width integer.
public func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// Builds serialized `tensorflow.Event` messages by hand.
///
/// Field numbers, from tensorflow/core/util/event.proto and
/// tensorflow/core/framework/summary.proto:
/// ```
/// Event         { double wall_time = 1; int64 step = 2;
///                 oneof what { string file_version = 3; Summary summary = 5; ... } }
/// Summary       { repeated Value value = 1; }
/// Summary.Value { string tag = 1;
///                 oneof value { float simple_value = 2; Image image = 4; ... } }
/// Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3;
///                 bytes encoded_image_string = 4; }   // colorspace 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
/// ```
public enum EventProto {
    /// The first event of every file: `file_version = "brain.Event:2"`.
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = ProtobufEncoder()
        event.double(field: 1, wallTime)          // Event.wall_time
        event.int64(field: 2, 0)                  // Event.step
        event.string(field: 3, "brain.Event:2")   // Event.file_version
        return event.bytes
    }

    /// An event holding one `simple_value` summary.
    public static func scalar(tag: String, value: Float, step: Int64, wallTime: Double) -> [UInt8] {
        summaryEvent(step: step, wallTime: wallTime) { entry in
            entry.string(field: 1, tag)           // Value.tag
            entry.float(field: 2, value)         // Value.simple_value
        }
    }

    /// An event holding one encoded image summary.
    public static func image(tag: String, encoded: Data, height: Int32, width: Int32, colorspace: Int32,
                      step: Int64, wallTime: Double) -> [UInt8] {
        summaryEvent(step: step, wallTime: wallTime) { value in
            value.string(field: 1, tag)           // Value.tag
            value.message(field: 4) { image in    // Value.image
                image.int64(field: 1, Int64(height))      // Image.height
                image.int64(field: 2, Int64(width))       // Image.width
                image.int64(field: 3, Int64(colorspace))  // Image.colorspace
                image.lengthDelimited(field: 4, encoded)  // Image.encoded_image_string
            }
        }
    }

    /// `Event { wall_time, step, summary { value { … } } }` with the value built by `build`.
    public static func summaryEvent(step: Int64, wallTime: Double,
                             _ build: (inout ProtobufEncoder) -> Void) -> [UInt8] {
        var event = ProtobufEncoder()
        event.double(field: 1, wallTime)          // Event.wall_time
        event.int64(field: 2, step)               // Event.step
        event.message(field: 5) { summary in      // Event.summary
            summary.message(field: 1, build)      // Summary.value (repeated; one here)
        }
        return event.bytes
    }
}
