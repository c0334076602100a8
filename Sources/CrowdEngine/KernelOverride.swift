#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread choice of the GEMM kernel: the coordinator's second verifier re-executes a disputed segment on the
/// portable Swift GEMM, independent of the OpenBLAS kernel the first verification ran, without touching other
/// threads (the evaluator keeps OpenBLAS).
public enum KernelOverride {
    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// Runs `body` with `Gemm.gemm` on `Gemm.gemmPortable` on this thread.
    public static func withPortableGEMM<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        return try body()
    }

    /// True inside `withPortableGEMM` on this thread.
    static var portable: Bool { pthread_getspecific(key) != nil }

    /// Runs `body` with the calling thread's choice (`portable`, read before handing work to other threads), so
    /// the engine's parallel loops keep the kernel of the thread that started them.
    static func inherit(_ portable: Bool, _ body: () -> Void) {
        if portable { withPortableGEMM(body) } else { body() }
    }
}
