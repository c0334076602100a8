import Foundation
import Testing

@testable import CrowdAggregation

/// The textual forms of `AggregatorKind` (campaign.json key `aggregator`, `--aggregator`).
@Suite struct AggregatorKindTests {
    @Test func everyFormParses() throws {
        let cases: [(String, AggregatorKind)] = [
            ("mean", .mean), ("MEAN", .mean), ("  median\t", .median), ("Median", .median),
            ("trimmed-mean", .trimmedMean(trim: 0.25)), ("trimmed-mean:0.1", .trimmedMean(trim: 0.1)),
            ("trimmed-mean:0", .trimmedMean(trim: 0)), ("TRIMMED-MEAN:0.49", .trimmedMean(trim: 0.49)),
            ("nnm-trimmed-mean", .nnmTrimmedMean(trim: 0.25)), ("nnm-trimmed-mean:0.2", .nnmTrimmedMean(trim: 0.2)),
            ("centered-clip", .centeredClip(radius: nil)), ("centered-clip:1.5", .centeredClip(radius: 1.5)),
            ("centered-clip:1e-3", .centeredClip(radius: 0.001)),
        ]
        for (text, kind) in cases { #expect(try AggregatorKind(parsing: text) == kind, "\(text)") }
    }

    @Test func descriptionRoundTripsAndCodable() throws {
        let kinds = AggregatorKind.all + [.trimmedMean(trim: 0.1), .nnmTrimmedMean(trim: 0), .centeredClip(radius: 2.5)]
        for kind in kinds {
            #expect(try AggregatorKind(parsing: kind.description) == kind)
            let json = try JSONEncoder().encode([kind])
            #expect(String(decoding: json, as: UTF8.self) == "[\"\(kind.description)\"]")
            #expect(try JSONDecoder().decode([AggregatorKind].self, from: json) == [kind])
        }
        #expect(AggregatorKind.all.map(\.description)
            == ["mean", "trimmed-mean", "median", "centered-clip", "nnm-trimmed-mean"])
        #expect(AggregatorKind.all.filter(\.isRobust).count == 4 && !AggregatorKind.mean.isRobust)
    }

    /// Bad forms throw an `AggregationError` whose message names the bad part and shows a valid form.
    @Test func badFormsGiveAClearError() {
        let cases: [(String, String)] = [
            ("trimmed-mean:0.5", "must be a number in [0, 0.5)"), ("trimmed-mean:-0.1", "must be a number in [0, 0.5)"),
            ("trimmed-mean:abc", "'abc'"), ("trimmed-mean:", "must be a number"), ("nnm-trimmed-mean:1", "[0, 0.5)"),
            ("trimmed-mean:nan", "'nan'"), ("centered-clip:0", "must be a positive number"),
            ("centered-clip:-1", "must be a positive number"), ("centered-clip:inf", "must be a positive number"),
            ("centered-clip:x", "e.g. centered-clip:1.5"), ("median:1", "unknown aggregator 'median:1'"),
            ("mean:0.2", "unknown aggregator"), ("krum", "use mean, trimmed-mean[:β], median"), ("", "unknown aggregator"),
        ]
        for (text, hint) in cases {
            do {
                let k = try AggregatorKind(parsing: text)
                Issue.record("'\(text)' parsed as \(k)")
            } catch let e as AggregationError {
                #expect(e.description.contains(hint), "'\(text)': \(e.description)")
            } catch {
                Issue.record("'\(text)': unexpected \(error)")
            }
        }
        #expect(throws: AggregationError.self) { try JSONDecoder().decode([AggregatorKind].self, from: Data("[\"krum\"]".utf8)) }
    }
}
