/// A contiguous, 64-byte aligned, zero-initialised buffer of `Float`.
///
/// Parameters, gradients and optimizer state each live in one `FlatBuffer`; a `ParameterLayout`
/// names the regions inside it (llm.c's "one flat buffer with named views"). A model update is
/// therefore one contiguous vector that can be encoded, sent and averaged without copying.
///
/// The buffer is a reference type with unchecked sendability: the engine never shares one buffer
/// between concurrently running tasks; ownership moves with the model that holds it.
public final class FlatBuffer: @unchecked Sendable {
    /// Number of `Float` elements.
    public let count: Int
    /// Base address; valid for `count` elements for the lifetime of the buffer.
    public let base: UnsafeMutablePointer<Float>

    /// Allocates `count` zeroed elements.
    public init(count: Int) {
        precondition(count >= 0, "FlatBuffer count must be non-negative")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { base.update(from: s, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// The whole buffer as a mutable buffer pointer.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: base, count: count)
    }

    /// A pointer to the element at `offset`.
    @inlinable public func pointer(at offset: Int) -> UnsafeMutablePointer<Float> { base + offset }

    /// Sets every element to zero.
    public func zero() { base.update(repeating: 0, count: count) }

    /// Copies all elements from `other`, which must have the same count.
    public func copy(from other: FlatBuffer) {
        precondition(other.count == count, "FlatBuffer.copy: count mismatch \(other.count) != \(count)")
        base.update(from: other.base, count: count)
    }

    /// A fresh buffer with the same contents.
    public func clone() -> FlatBuffer {
        let c = FlatBuffer(count: count)
        c.copy(from: self)
        return c
    }

    /// The contents as an array (for tests, checkpoints and the wire).
    public func toArray() -> [Float] { Array(buffer) }

    /// `true` when every element is finite.
    public func allFinite() -> Bool {
        for i in 0..<count where !base[i].isFinite { return false }
        return true
    }
}
