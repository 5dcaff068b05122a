import Datasets
import XCTest

final class CSVReaderTests: XCTestCase {
    /// Three 2×3 images.
    let images: [[UInt8]] = [[0, 1, 2, 253, 254, 255], [9, 8, 7, 6, 5, 4], [128, 127, 0, 0, 255, 10]]

    private func write(_ text: String, _ name: String = "mnist_train.csv") throws -> (TemporaryDirectory, URL) {
        let dir = try TemporaryDirectory()
        return (dir, try dir.write(Array(text.utf8), to: name))
    }

    private func read(_ url: URL) throws -> ImageSet {
        try MNISTCSVReader.readImages(at: url, height: 2, width: 3)
    }

    func testCSV_RoundTripWithHeaderAndCRLF() throws {
        let (dir, url) = try write(csvText(images: images))
        let set = try read(url)
        XCTAssertEqual([set.count, set.height, set.width], [3, 2, 3])
        XCTAssertEqual(set.pixels, images.flatMap { $0 })
        _ = dir
    }

    func testCSV_RoundTripWithoutHeaderLFAndNoFinalNewline() throws {
        var text = csvText(images: images, header: false, newline: "\n")
        text.removeLast()
        let (dir, url) = try write(text)
        XCTAssertEqual(try read(url).pixels, images.flatMap { $0 })
        _ = dir
    }

    func testCSV_TrailingBlankLinesAllowed() throws {
        let (dir, url) = try write(csvText(images: images) + "\r\n\n")
        XCTAssertEqual(try read(url).count, 3)
        _ = dir
    }

    func testCSV_MNISTShapeByDefault() throws {
        let image = (0..<784).map { UInt8($0 % 256) }
        let (dir, url) = try write(csvText(images: [image, image.reversed()]))
        let set = try MNISTCSVReader.readImages(at: url)
        XCTAssertEqual([set.count, set.height, set.width], [2, 28, 28])
        XCTAssertEqual(Array(set[1]), image.reversed())
        _ = dir
    }

    func testCSV_EmptyFile_Fails() throws {
        for (i, text) in ["", "\n\n", "label,p0,p1,p2,p3,p4,p5\r\n", "label,p0,p1,p2,p3,p4,p5\n\n"].enumerated() {
            let (dir, url) = try write(text, "empty\(i).csv")
            assertDatasetError(try read(url), naming: url) {
                if case .emptyFile = $0 { return true } else { return false }
            }
            _ = dir
        }
    }

    func testCSV_WrongColumnCount_FailsNamingLine() throws {
        var lines = csvText(images: images, newline: "\n").split(separator: "\n").map(String.init)
        lines[2] += ",5"  // line 3 (the second image) has 8 fields
        let (dir, url) = try write(lines.joined(separator: "\n"))
        assertDatasetError(try read(url), naming: url) {
            if case .csvColumnCount(_, 3, 7, 8) = $0 { return true } else { return false }
        }
        do { _ = try read(url) } catch { XCTAssertTrue(error.localizedDescription.contains("line 3")) }
        _ = dir
    }

    func testCSV_BadHeaderOrBlankLine_Fails() throws {
        let (dir, url) = try write("label,p0\n" + csvText(images: images, header: false))
        assertDatasetError(try read(url), naming: url) {
            if case .csvColumnCount(_, 1, 7, 2) = $0 { return true } else { return false }
        }
        let (dir2, blank) = try write(csvText(images: [images[0]], newline: "\n") + "\n" + csvText(images: [images[1]], header: false))
        assertDatasetError(try read(blank), naming: blank) {
            if case .csvColumnCount(_, 3, 7, 1) = $0 { return true } else { return false }
        }
        _ = (dir, dir2)
    }

    func testCSV_NotInteger_FailsNamingLineAndField() throws {
        for bad in ["1.5", "-1", "x", "", " 3", "+4"] {
            var rows = images.map { $0.map(String.init) }
            rows[2][4] = bad
            let text = "h,a,b,c,d,e,f\n" + rows.enumerated().map { "\($0.offset)," + $0.element.joined(separator: ",") }
                .joined(separator: "\n")
            let (dir, url) = try write(text)
            assertDatasetError(try read(url), naming: url) {
                if case .csvNotInteger(_, 4, 6, let text) = $0 { return text == bad } else { return false }
            }
            _ = dir
        }
    }

    func testCSV_OutOfRange_Fails() throws {
        let (dir, url) = try write("h,a,b,c,d,e,f\n1,0,0,256,0,0,0\n")
        assertDatasetError(try read(url), naming: url) {
            if case .csvOutOfRange(_, 2, 4, "256", 0...255) = $0 { return true } else { return false }
        }
        let (dir2, label) = try write("h,a,b,c,d,e,f\n1,0,0,0,0,0,0\n10,0,0,0,0,0,0\n")
        assertDatasetError(try read(label), naming: label) {
            if case .csvOutOfRange(_, 3, 1, "10", 0...9) = $0 { return true } else { return false }
        }
        let (dir3, huge) = try write("h,a,b,c,d,e,f\n1,0,0,0,0,0,99999999999999999999999999\n")
        assertDatasetError(try read(huge), naming: huge) {
            if case .csvOutOfRange(_, 2, 7, _, _) = $0 { return true } else { return false }
        }
        _ = (dir, dir2, dir3)
    }
}
