import Foundation
import Testing
@testable import CrowdData

/// The IDX reader on the real Fashion-MNIST files and on every kind of corrupt input.
struct IDXReaderTests {
    static let dir = FashionMNIST.defaultDirectory

    /// IDX bytes: magic `00 00 08 nd`, big-endian dimensions, then `values`.
    static func idx(_ dims: [Int], _ values: [UInt8], type: UInt8 = 0x08) -> Data {
        var d = Data([0, 0, type, UInt8(dims.count)])
        for v in dims {
            d.append(contentsOf: [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])
        }
        d.append(contentsOf: values)
        return d
    }

    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "crowdtrain-idx-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func problem(_ body: () throws -> Void) -> IDXError? {
        do { try body() } catch let e as IDXError { return e } catch { return nil }
        return nil
    }

    @Test func readsTheRealFashionMNIST() throws {
        // The test split in full, and the training labels; the 47 MB training images are read by
        // `crowdtrain train` (kept out of debug-mode unit tests for time).
        let test = try FashionMNIST.loadSplit(directory: Self.dir, prefix: "t10k")
        #expect(test.count == 10_000 && test.rows == 28 && test.cols == 28 && test.features == 784)
        #expect(test.pixels.count == 7_840_000)
        // Known first records of the published files.
        #expect(Array(test.labels.prefix(10)) == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        #expect(test.pixels.prefix(784).reduce(0) { $0 + Int($1) } == 33_456)
        let trainLabels = try IDXReader.read(path: Self.dir + "/train-labels-idx1-ubyte.gz")
        #expect(trainLabels.dimensions == [60_000])
        #expect(Array(trainLabels.values.prefix(10)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        // Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
        var counts = [Int](repeating: 0, count: 10)
        for l in trainLabels.values { counts[Int(l)] += 1 }
        #expect(counts == [Int](repeating: 6000, count: 10))
        var testCounts = [Int](repeating: 0, count: 10)
        for l in test.labels { testCounts[Int(l)] += 1 }
        #expect(testCounts == [Int](repeating: 1000, count: 10))
    }

    @Test func plainAndGzipAgree() throws {
        let gzPath = Self.dir + "/t10k-labels-idx1-ubyte.gz"
        let fromGz = try IDXReader.read(path: gzPath)
        #expect(fromGz.dimensions == [10_000])
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = dir + "/labels"
        try Self.idx(fromGz.dimensions, fromGz.values).write(to: URL(fileURLWithPath: plain))
        #expect(try IDXReader.read(path: plain) == fromGz)
    }

    @Test func parsesASmallFile() throws {
        let a = try IDXReader.parse(Self.idx([2, 3], [1, 2, 3, 4, 5, 6]), file: "m")
        #expect(a.dimensions == [2, 3] && a.values == [1, 2, 3, 4, 5, 6])
    }

    @Test func corruptPlainFilesAreNamedErrors() {
        let cases: [(Data, IDXError.Problem)] = [
            (Self.idx([10], [1, 2, 3]), .truncated),  // fewer records than the header says
            (Data([0, 0, 8]), .truncated),  // shorter than a header
            (Data([0, 0, 8, 3, 0, 0]), .truncated),  // dimensions cut off
            (Self.idx([3], [1, 2, 3, 4]), .dimensionMismatch),  // trailing bytes
            (Data("hello world".utf8), .wrongMagic),
            (Self.idx([2], [1, 2], type: 0x0D), .wrongMagic),  // float elements: unsupported
            (Data([0, 0, 8, 9]), .wrongMagic),  // 9 dimensions
            (Self.idx([65535, 65535, 65535], []), .dimensionMismatch),  // absurd sizes, no allocation
        ]
        for (bytes, expected) in cases {
            let e = Self.problem { _ = try IDXReader.parse(bytes, file: "bad.idx") }
            #expect(e?.problem == expected, "expected \(expected), got \(String(describing: e))")
            #expect(e?.description.hasPrefix("bad.idx: ") == true)
        }
    }

    @Test func corruptGzipIsRefused() throws {
        let real = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/t10k-labels-idx1-ubyte.gz"))
        let truncated = Self.problem { _ = try IDXReader.parse(real.prefix(real.count / 2), file: "half.gz") }
        #expect(truncated?.problem == .truncated)
        var garbled = real
        for i in stride(from: 40, to: min(400, real.count), by: 7) { garbled[i] ^= 0xA5 }
        let corrupt = Self.problem { _ = try IDXReader.parse(garbled, file: "garbled.gz") }
        #expect(corrupt?.problem == .corruptGzip || corrupt?.problem == .truncated)
        #expect(corrupt?.file == "garbled.gz")
        let missing = Self.problem { _ = try IDXReader.read(path: "/nonexistent/x.gz") }
        #expect(missing?.problem == .unreadable && missing?.file == "/nonexistent/x.gz")
    }

    /// Writes a four-file MNIST-format directory with the given pieces.
    static func writeSet(
        _ dir: String, trainImages: Data, trainLabels: Data,
        testImages: Data? = nil, testLabels: Data? = nil
    ) throws {
        try trainImages.write(to: URL(fileURLWithPath: dir + "/train-images-idx3-ubyte"))
        try trainLabels.write(to: URL(fileURLWithPath: dir + "/train-labels-idx1-ubyte"))
        try (testImages ?? idx([1, 2, 2], [0, 1, 2, 3]))
            .write(to: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        try (testLabels ?? idx([1], [4])).write(to: URL(fileURLWithPath: dir + "/t10k-labels-idx1-ubyte"))
    }

    @Test func datasetLevelChecks() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = Self.idx([3, 2, 2], Array(0..<12))
        // A valid tiny set loads.
        try Self.writeSet(dir, trainImages: images, trainLabels: Self.idx([3], [0, 9, 5]))
        let (train, test) = try FashionMNIST.load(directory: dir)
        #expect(train.count == 3 && train.rows == 2 && test.count == 1 && train.labels == [0, 9, 5])

        try Self.writeSet(dir, trainImages: images, trainLabels: Self.idx([2], [0, 1]))
        let count = Self.problem { _ = try FashionMNIST.load(directory: dir) }
        #expect(count?.problem == .countMismatch && count?.file == dir + "/train-labels-idx1-ubyte")

        try Self.writeSet(dir, trainImages: Self.idx([3, 4], Array(0..<12)), trainLabels: Self.idx([3], [0, 1, 2]))
        let dims = Self.problem { _ = try FashionMNIST.load(directory: dir) }
        #expect(dims?.problem == .dimensionMismatch && dims?.file == dir + "/train-images-idx3-ubyte")

        try Self.writeSet(dir, trainImages: images, trainLabels: Self.idx([3], [0, 10, 1]))
        #expect(Self.problem { _ = try FashionMNIST.load(directory: dir) }?.problem == .badLabel)

        try Self.writeSet(
            dir, trainImages: images, trainLabels: Self.idx([3], [0, 1, 2]),
            testImages: Self.idx([1, 3, 3], Array(0..<9)))
        #expect(Self.problem { _ = try FashionMNIST.load(directory: dir) }?.problem == .dimensionMismatch)

        try FileManager.default.removeItem(atPath: dir + "/t10k-labels-idx1-ubyte")
        let missing = Self.problem { _ = try FashionMNIST.load(directory: dir) }
        #expect(missing?.problem == .unreadable)
        #expect(missing?.message.contains("dataset-fashion-mnist") == true)
    }
}
