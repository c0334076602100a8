import CrowdEngine

/// Synthetic image sets: small, seeded, learnable in a few steps. The test suites and the benchmarks that need a
/// campaign without Fashion-MNIST (chaos, load, guest) train on these.
public enum SyntheticImages {
    /// 4×4 images of two classes: class 1 is bright in its top half, class 0 in its bottom half; pixels are drawn
    /// from `bright` and `dark`. Labels are drawn at random, or alternate 0, 1, 0, … with `alternating`.
    public static func halves(
        count: Int, seed: UInt64, bright: ClosedRange<Int> = 150...249, dark: ClosedRange<Int> = 0...99,
        alternating: Bool = false
    ) -> ImageDataset {
        var rng = SeededRNG(seed: seed)
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        pixels.reserveCapacity(count * 16)
        for i in 0..<count {
            let label = alternating ? UInt8(i % 2) : UInt8(rng.nextInt(below: 2))
            for p in 0..<16 {
                let range = (p < 8) == (label == 1) ? bright : dark
                pixels.append(UInt8(range.lowerBound + rng.nextInt(below: range.count)))
            }
            labels.append(label)
        }
        return ImageDataset(count: count, rows: 4, cols: 4, pixels: pixels, labels: labels)
    }

    /// 28×28 images of ten classes (the Fashion-MNIST shape): class `c` is a bright band on rows 2c+4 and 2c+5,
    /// plus one random row brightened by `noise`.
    public static func bands(count: Int, seed: UInt64, noise: UInt8 = 60) -> ImageDataset {
        var rng = SeededRNG(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * 784)
        var labels = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let label = rng.nextInt(below: 10)
            labels[i] = UInt8(label)
            let noisy = rng.nextInt(below: 28)
            for col in 0..<28 {
                for row in (label * 2 + 4)..<(label * 2 + 6) { pixels[i * 784 + row * 28 + col] = 200 }
                pixels[i * 784 + noisy * 28 + col] &+= noise
            }
        }
        return ImageDataset(count: count, rows: 28, cols: 28, pixels: pixels, labels: labels)
    }
}
