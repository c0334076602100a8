import CrowdEngine

/// Labelled images held as bytes (0…255), as stored in IDX files and image shards.
///
/// Pixels are scaled to [0, 1] (`/ 255`) only when a batch is gathered, so a dataset costs one
/// byte per pixel in memory.
public struct ImageDataset: Sendable {
    /// Number of images.
    public let count: Int
    /// Image height.
    public let rows: Int
    /// Image width.
    public let cols: Int
    /// `count × rows × cols` pixels, row-major.
    public let pixels: [UInt8]
    /// `count` labels.
    public let labels: [UInt8]

    /// Values per image.
    public var features: Int { rows * cols }

    public init(count: Int, rows: Int, cols: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == count * rows * cols && labels.count == count, "ImageDataset shape mismatch")
        self.count = count; self.rows = rows; self.cols = cols; self.pixels = pixels; self.labels = labels
    }

    /// Gathers the images at `indices` into a batch, pixels scaled to [0, 1].
    public func batch<C: Collection>(_ indices: C) -> ImageBatch where C.Element == Int {
        let f = features
        var inputs = [Float](repeating: 0, count: indices.count * f)
        var labels = [Int32](repeating: 0, count: indices.count)
        inputs.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                var row = 0
                for i in indices {
                    let s = src.baseAddress! + i * f
                    let d = dst.baseAddress! + row * f
                    for j in 0..<f { d[j] = Float(s[j]) * (1.0 / 255.0) }
                    labels[row] = Int32(self.labels[i])
                    row += 1
                }
            }
        }
        return ImageBatch(count: indices.count, features: f, inputs: inputs, labels: labels)
    }
}
