/// The built-in workloads. The raw value is what users type (`--workload fmnist-mlp`).
public enum WorkloadName: String, Codable, Sendable, CaseIterable {
    /// MLP 784-256-128-10 on Fashion-MNIST (IDX files of the Debian package `dataset-fashion-mnist`).
    case fmnistMLP = "fmnist-mlp"
    /// Byte-level GPT on a text corpus (default: the King James Bible of the Debian package `bible-kjv`).
    case kjvGPT = "kjv-gpt"
}
