/// Branch-light float32 ↔ fp16/bf16 conversions on bit patterns (round-to-nearest-even), written out so
/// they vectorize on the baseline x86-64 target (no F16C) and behave identically on every CPU.
enum HalfFloat {
    /// float32 bits → IEEE binary16 bits, round-to-nearest-even; overflow gives ±Inf, NaN gives a quiet NaN.
    @inline(__always)
    static func fp16(fromFloatBits bits: UInt32) -> UInt16 {
        let sign = bits & 0x8000_0000
        let f = bits ^ sign
        var o: UInt32
        if f >= (127 + 16) << 23 {
            o = f > 0x7F80_0000 ? 0x7E00 : 0x7C00
        } else if f < 113 << 23 {
            // Subnormal or zero: let the FPU round by adding a magic number.
            let magic: UInt32 = ((127 - 15) + (23 - 10) + 1) << 23
            let v = Float(bitPattern: f) + Float(bitPattern: magic)
            o = v.bitPattern &- magic
        } else {
            let mantOdd = (f >> 13) & 1
            o = (f &+ ((15 &- 127) << 23) &+ 0xFFF &+ mantOdd) >> 13
        }
        return UInt16(truncatingIfNeeded: o | (sign >> 16))
    }

    /// IEEE binary16 bits → float32 (exact).
    @inline(__always)
    static func float(fromFP16 h: UInt16) -> Float {
        let hv = UInt32(h)
        let shiftedExp: UInt32 = 0x7C00 << 13
        var o = (hv & 0x7FFF) << 13
        let exp = shiftedExp & o
        o &+= (127 - 15) << 23
        if exp == shiftedExp {
            o &+= (128 - 16) << 23
        } else if exp == 0 {
            o &+= 1 << 23
            o = (Float(bitPattern: o) - Float(bitPattern: 113 << 23)).bitPattern
        }
        return Float(bitPattern: o | ((hv & 0x8000) << 16))
    }

    /// float32 bits → bfloat16 bits, round-to-nearest-even (input must not be NaN).
    @inline(__always)
    static func bf16(fromFloatBits u: UInt32) -> UInt16 {
        UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    /// Smallest bfloat16 ≥ a non-negative finite float (rounds the magnitude up).
    @inline(__always)
    static func bf16Ceil(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        return UInt16(truncatingIfNeeded: (u &+ 0xFFFF) >> 16)
    }

    /// bfloat16 bits → float32 (exact).
    @inline(__always)
    static func float(fromBF16 h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
}
