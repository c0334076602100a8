import CrowdProtocol
import CrowdTraining
import Foundation
import Testing

@Suite struct LRScheduleTests {
    @Test func constantIsThePeakEverywhere() {
        for p in [-1.0, 0, 0.3, 1, 7, .nan] { #expect(LRSchedule.constant.lr(progress: p, peak: 0.05) == 0.05) }
    }

    @Test func cosineWarmsUpPeaksAndDecaysToItsFloor() {
        let s = LRSchedule(kind: .cosine, warmup: 0.1, floor: 0.1)
        let peak: Float = 1e-3
        #expect(abs(s.lr(progress: 0, peak: peak) - 1e-4) < 1e-9)
        #expect(abs(s.lr(progress: 0.05, peak: peak) - 5.5e-4) < 1e-8)
        #expect(abs(s.lr(progress: 0.1, peak: peak) - peak) < 1e-9)
        #expect(abs(s.lr(progress: 0.55, peak: peak) - 5.5e-4) < 1e-8)  // half-way down the cosine
        #expect(abs(s.lr(progress: 1, peak: peak) - 1e-4) < 1e-9)
        #expect(s.lr(progress: 3, peak: peak) == s.lr(progress: 1, peak: peak), "held at the floor past the goal")
        #expect(s.lr(progress: -2, peak: peak) == s.lr(progress: 0, peak: peak))
        var last = Float.infinity
        for i in 10...100 {
            let v = s.lr(progress: Double(i) / 100, peak: peak)
            #expect(v <= last)
            last = v
        }
        #expect(LRSchedule(kind: .cosine, warmup: 0, floor: 0).lr(progress: 0, peak: 2) == 2)
    }

    @Test func decodingDefaultsMissingFieldsAndRefusesBadOnes() throws {
        let d = JSONDecoder()
        let s = try d.decode(LRSchedule.self, from: Data(#"{"kind":"cosine"}"#.utf8))
        #expect(s == .cosine && s.warmup == 0.05 && s.floor == 0.1)
        #expect(throws: (any Error).self) { try d.decode(LRSchedule.self, from: Data(#"{"kind":"linear"}"#.utf8)) }
        #expect(throws: (any Error).self) {
            try d.decode(LRSchedule.self, from: Data(#"{"kind":"cosine","warmup":0.9}"#.utf8))
        }
        #expect(throws: (any Error).self) {
            try d.decode(LRSchedule.self, from: Data(#"{"kind":"cosine","floor":-1}"#.utf8))
        }
        // An inner-optimizer object written before schedules existed still loads, as constant.
        let old = try d.decode(InnerOptimizerConfig.self, from: Data(#"{"kind":"adamw","lr":0.002}"#.utf8))
        #expect(old.schedule == .constant && old.kind == "adamw" && old.lr == 0.002 && old.momentum == 0.9)
        let round = try d.decode(
            InnerOptimizerConfig.self,
            from: try JSONEncoder().encode(InnerOptimizerConfig(kind: "sgd", lr: 0.1, schedule: .cosine)))
        #expect(round.schedule == .cosine && round.lr == 0.1)
    }
}
