/// What a shard holds: labelled images or byte text.
public enum ShardPayload: Sendable {
    case images(ImageDataset)
    case text(TextCorpus)

    /// Records: images, or bytes of text.
    public var records: Int {
        switch self {
        case .images(let d): return d.count
        case .text(let c): return c.count
        }
    }

    /// `"images"` or `"text"`.
    public var kindName: String {
        switch self {
        case .images: return "images"
        case .text: return "text"
        }
    }
}
