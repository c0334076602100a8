import CrowdProtocol
import Foundation

extension LRSchedule {
    /// The learning rate at progress `p` (clamped to [0, 1]).
    public func lr(progress p: Double, peak: Float) -> Float {
        switch kind {
        case .const:
            return peak
        case .cosine:
            let x = p.isFinite ? Swift.min(1, Swift.max(0, p)) : 0
            if warmup > 0 && x < warmup {
                return peak * Float((x / warmup) * (1 - floor) + floor)
            }
            let r = warmup < 1 ? (x - warmup) / (1 - warmup) : 1
            return peak * Float(floor + (1 - floor) * 0.5 * (1 + cos(Double.pi * r)))
        }
    }
}
