@testable import CrowdCodec
import Foundation
import Testing

@Suite struct CodecSpecTests {
    @Test func parsesEveryForm() throws {
        #expect(try CodecSpec(parsing: "fp32") == .fp32)
        #expect(try CodecSpec(parsing: "FP16") == .fp16)
        #expect(try CodecSpec(parsing: "bf16") == .bf16)
        #expect(try CodecSpec(parsing: "int8") == .int8(block: 256))
        #expect(try CodecSpec(parsing: "int8:128") == .int8(block: 128))
        #expect(try CodecSpec(parsing: "topk:0.01") == .topk(fraction: 0.01))
    }

    @Test(arguments: ["fp32", "fp16", "bf16", "int8", "int8:64", "topk:0.01", "topk:0.5"])
    func descriptionRoundTrips(text: String) throws {
        let spec = try CodecSpec(parsing: text)
        #expect(try CodecSpec(parsing: spec.description) == spec)
        let json = try JSONEncoder().encode([spec])
        #expect(try JSONDecoder().decode([CodecSpec].self, from: json) == [spec])
    }

    @Test(arguments: ["", "int4", "int8:0", "int8:70000", "int8:x", "topk", "topk:0", "topk:0.6", "topk:nan", "fp32:1"])
    func rejectsBadStrings(text: String) {
        #expect(throws: CodecError.self) { try CodecSpec(parsing: text) }
    }

    @Test func rawSizes() {
        #expect(CodecSpec.fp32.rawPayloadSize(elements: 10) == 40)
        #expect(CodecSpec.bf16.rawPayloadSize(elements: 10) == 20)
        #expect(CodecSpec.int8(block: 4).rawPayloadSize(elements: 10) == 2 * 3 + 10)
        #expect(CodecSpec.topKCount(elements: 235_146, fraction: 0.01) == 2352)
        #expect(CodecSpec.topKCount(elements: 5, fraction: 0.01) == 1)
        #expect(CodecSpec.topk(fraction: 0.5).rawPayloadSize(elements: 10) == 40)
    }
}
