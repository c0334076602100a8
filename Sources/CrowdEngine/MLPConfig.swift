/// Shape of a multilayer perceptron: `inputs → hidden[0] → … → classes`, ReLU between layers.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `inputs` | int | 784 | features per sample (28×28 pixels) |
/// | `hidden` | [int] | [256, 128] | widths of the hidden layers, input side first |
/// | `classes` | int | 10 | output classes |
public struct MLPConfig: Codable, Sendable, Hashable {
    public var inputs: Int
    public var hidden: [Int]
    public var classes: Int

    public init(inputs: Int = 784, hidden: [Int] = [256, 128], classes: Int = 10) {
        self.inputs = inputs; self.hidden = hidden; self.classes = classes
    }

    /// Layer widths from input to output: `[inputs] + hidden + [classes]`.
    public var widths: [Int] { [inputs] + hidden + [classes] }

    /// Throws when a width is not positive.
    public func validate() throws {
        guard inputs > 0, classes > 1, hidden.allSatisfy({ $0 > 0 }) else {
            throw MLPConfigError(
                description: "invalid MLP shape \(widths.map(String.init).joined(separator: "-")): "
                    + "every width must be positive and there must be at least 2 classes")
        }
        // Explicit bounds, not overflow traps (the engine is built with -Ounchecked): a shape read from a file or the
        // network cannot make a layer's size wrap around.
        guard widths.allSatisfy({ $0 <= 1 << 24 }), hidden.count <= 64 else {
            throw MLPConfigError(description: "invalid MLP shape: at most 64 hidden layers of at most 2^24 units each")
        }
        var total = 0
        for (a, b) in zip(widths, widths.dropFirst()) { total += a * b + b }
        guard total <= Self.maxParameters else {
            throw MLPConfigError(description: "\(total) parameters is more than the engine's limit of \(Self.maxParameters)")
        }
    }

    /// The most parameters an MLP may have (2^32: 16 GiB of float32).
    public static let maxParameters = 1 << 32
}

/// An `MLPConfig` describes an impossible network.
public struct MLPConfigError: Error, CustomStringConvertible {
    public let description: String
}
