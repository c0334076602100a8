/// Rectified linear unit `y = max(0, x)`, elementwise over `count` values, as a forward/backward pair.
///
/// The loops run on `SIMD8<Float>`: written as scalar code with possibly aliasing pointers (the MLP
/// applies ReLU in place) the compiler emits a branchy scalar loop that costs ~5% of a training step.
public enum ReLU {
    /// `out[i] = max(0, inp[i])`. `out` may alias `inp` (in place).
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
        let src = UnsafeRawPointer(inp), dst = UnsafeMutableRawPointer(out)
        var i = 0
        while i + 8 <= n {
            let x = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            dst.storeBytes(of: x.replacing(with: 0, where: x .< 0), toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            let x = inp[i]
            out[i] = x > 0 ? x : 0
            i += 1
        }
    }

    /// `dinp[i] += (act[i] > 0 ? dout[i] : 0)` where `act` is the forward input or output (both have
    /// the same sign pattern, so an in-place forward keeps what backward needs).
    /// - Parameter accumulate: `false` overwrites `dinp`; then `dinp` may alias `dout`.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, act: UnsafePointer<Float>, count n: Int,
        accumulate: Bool = true
    ) {
        let d = UnsafeRawPointer(dout), a = UnsafeRawPointer(act), o = UnsafeMutableRawPointer(dinp)
        var i = 0
        while i + 8 <= n {
            let g = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let x = a.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            var r = g.replacing(with: 0, where: x .<= 0)
            if accumulate { r += o.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) }
            o.storeBytes(of: r, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            let r: Float = act[i] > 0 ? dout[i] : 0
            dinp[i] = accumulate ? dinp[i] + r : r
            i += 1
        }
    }
}
