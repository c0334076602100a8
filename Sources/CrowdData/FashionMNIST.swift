import Foundation

/// Fashion-MNIST (or any MNIST-format set) from the four IDX files in a directory.
public enum FashionMNIST {
    /// Where the Debian package `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// Number of classes; labels outside `0..<classes` are refused.
    public static let classes = 10

    /// Loads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
    /// `t10k-labels-idx1-ubyte` (each `.gz` or plain) from `directory`.
    /// - Throws: `IDXError` naming the file and the problem.
    public static func load(directory: String = defaultDirectory) throws -> (train: ImageDataset, test: ImageDataset) {
        let train = try loadSplit(directory: directory, prefix: "train")
        let test = try loadSplit(directory: directory, prefix: "t10k")
        guard train.rows == test.rows, train.cols == test.cols else {
            throw IDXError(
                file: (directory as NSString).appendingPathComponent("t10k-images-idx3-ubyte"),
                problem: .dimensionMismatch,
                message: "test images are \(test.rows)×\(test.cols) but training images are "
                    + "\(train.rows)×\(train.cols)")
        }
        return (train, test)
    }

    /// Loads one split (`train` or `t10k`).
    public static func loadSplit(directory: String, prefix: String) throws -> ImageDataset {
        let imagesPath = try locate(directory: directory, name: "\(prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory: directory, name: "\(prefix)-labels-idx1-ubyte")
        let images = try IDXReader.read(path: imagesPath)
        guard images.dimensions.count == 3 else {
            throw IDXError(
                file: imagesPath, problem: .dimensionMismatch,
                message: "image file has dimensions \(images.dimensions); expected 3 (count, rows, columns)")
        }
        let labels = try IDXReader.read(path: labelsPath)
        guard labels.dimensions.count == 1 else {
            throw IDXError(
                file: labelsPath, problem: .dimensionMismatch,
                message: "label file has dimensions \(labels.dimensions); expected 1 (count)")
        }
        guard labels.dimensions[0] == images.dimensions[0] else {
            throw IDXError(
                file: labelsPath, problem: .countMismatch,
                message: "holds \(labels.dimensions[0]) labels but \(imagesPath) holds \(images.dimensions[0]) images")
        }
        if let bad = labels.values.firstIndex(where: { Int($0) >= classes }) {
            throw IDXError(
                file: labelsPath, problem: .badLabel,
                message: "label \(labels.values[bad]) at record \(bad) is outside 0…\(classes - 1)")
        }
        return ImageDataset(
            count: images.dimensions[0], rows: images.dimensions[1], cols: images.dimensions[2],
            pixels: images.values, labels: labels.values)
    }

    /// `name.gz` if present, else `name`; a clear error naming both when neither exists.
    static func locate(directory: String, name: String) throws -> String {
        let base = (directory as NSString).appendingPathComponent(name)
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw IDXError(
            file: base + ".gz", problem: .unreadable,
            message: "missing (looked for \(name).gz and \(name) in \(directory)); install the Debian package "
                + "dataset-fashion-mnist or pass --data DIR with MNIST-format IDX files")
    }
}
