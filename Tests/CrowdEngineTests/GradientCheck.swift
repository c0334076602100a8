@testable import CrowdEngine

/// Central finite differences for gradient checks.
enum GradientCheck {
    /// Largest violation of `|numeric − analytic| ≤ atol + rtol·|analytic|` over all `x`, as a
    /// ratio (≤ 1 passes). `loss` is evaluated in Double from the current values of `x`.
    static func worstRatio(
        x: UnsafeMutablePointer<Float>, count: Int, analytic: [Float], eps: Float, atol: Double, rtol: Double,
        loss: () -> Double
    ) -> Double {
        var worst = 0.0
        for i in 0..<count {
            let saved = x[i]
            x[i] = saved + eps
            let up = loss()
            x[i] = saved - eps
            let down = loss()
            x[i] = saved
            // Divide by the perturbation actually applied (float rounding of saved ± eps).
            let h = Double(saved + eps) - Double(saved - eps)
            let numeric = (up - down) / h
            let err = abs(numeric - Double(analytic[i]))
            worst = max(worst, err / (atol + rtol * abs(Double(analytic[i]))))
        }
        return worst
    }

    static func random(_ n: Int, _ rng: inout SeededRNG, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in rng.uniform(-scale, scale) }
    }
}
