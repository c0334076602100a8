import CBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `cblas_sgemm` as a C function pointer (resolved with dlsym, or a test double).
public typealias SGEMMFunction = @convention(c) (
    CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
    UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32
) -> Void

/// The GEMM implementation the engine uses, chosen once per process (`BLASBackend.shared`).
///
/// OpenBLAS is not linked: it is loaded with `dlopen` on first use, after `OpenBLASCoreChoice` has picked a
/// core type from the CPU's feature bits and put it in `OPENBLAS_CORETYPE` for the duration of the load (the
/// variable is removed again, so child processes decide for themselves). An `OPENBLAS_CORETYPE` the operator
/// set is respected and never changed. Whatever core runs must pass `GemmSelfCheck` against the naive GEMM
/// before it is used; a core that fails, or a missing library, leaves the engine on `Gemm.gemmPortable`
/// (correct, several times slower) and says why in `problem`. `CROWDTRAIN_BLAS=portable` asks for the portable GEMM
/// outright (a second backend to compare with, e.g. `crowdtrain bench determinism`): OpenBLAS is then not loaded.
public struct BLASBackend: Sendable {
    public enum Library: String, Sendable, Codable { case openblas, portable }

    /// How the kernel was chosen.
    public enum Selection: String, Sendable, Codable {
        /// `OPENBLAS_CORETYPE` was set by the operator; used as set.
        case operatorCoreType = "operator"
        /// Core type forced from the CPU's feature bits.
        case cpuFeatures = "cpu-features"
        /// The features map to no core type: OpenBLAS's own run-time choice.
        case libraryDefault = "library"
        /// OpenBLAS missing or failing the self-check: the engine's own Swift GEMM.
        case fallback
    }

    public var library: Library
    /// Library file (e.g. `libopenblas.so.0`) and `openblas_get_config()`, or "swift" for the portable GEMM.
    public var libraryDetail: String
    /// The kernel that runs: OpenBLAS's `openblas_get_corename()` after loading, or "portable".
    public var kernel: String
    public var selection: Selection
    /// The core type asked for (operator's or feature-derived), if any.
    public var requestedCoreType: String?
    /// Largest relative error of the self-check against the naive GEMM (nil if none ran).
    public var selfCheckError: Float?
    /// Why the engine is not on OpenBLAS, if it is not.
    public var problem: String?

    let sgemm: SGEMMFunction?
    let setThreads: (@convention(c) (Int32) -> Void)?
    let getThreads: (@convention(c) () -> Int32)?

    /// One line for `peer status` and text output, e.g. `OpenBLAS core SkylakeX (cpu-features; self-check 2.1e-07)`.
    public var summary: String {
        var s = library == .openblas ? "OpenBLAS core \(kernel)" : "portable Swift GEMM"
        var why = [selection.rawValue]
        if let r = requestedCoreType, r != kernel { why.append("asked \(r)") }
        if let e = selfCheckError { why.append("self-check " + formatE(e)) }
        s += " (" + why.joined(separator: "; ") + ")"
        if let problem { s += ": " + problem }
        return s
    }

    /// The process's backend, loaded on first use.
    public static let shared: BLASBackend = load()

    static func load() -> BLASBackend {
        if let asked = getenv("CROWDTRAIN_BLAS").map({ String(cString: $0) }), asked.lowercased() == "portable" {
            return portable(
                selection: .fallback, requested: nil, error: nil,
                problem: "CROWDTRAIN_BLAS=portable asked for the portable Swift GEMM (OpenBLAS not loaded)")
        }
        let operatorCore = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return resolve(
            operatorCoreType: operatorCore, cpu: .current, open: openOpenBLAS, selfCheck: GemmSelfCheck.maxRelativeError)
    }

    /// A loaded BLAS library's entry points.
    public struct Loaded: Sendable {
        public var file: String
        public var config: String
        public var coreName: String
        public var sgemm: SGEMMFunction
        public var setThreads: (@convention(c) (Int32) -> Void)?
        public var getThreads: (@convention(c) () -> Int32)?
        public init(
            file: String, config: String, coreName: String, sgemm: SGEMMFunction,
            setThreads: (@convention(c) (Int32) -> Void)?, getThreads: (@convention(c) () -> Int32)?
        ) {
            self.file = file
            self.config = config
            self.coreName = coreName
            self.sgemm = sgemm
            self.setThreads = setThreads
            self.getThreads = getThreads
        }
    }

    /// The decision, with the loader and the self-check injected (tests drive every branch).
    ///
    /// - Parameters:
    ///   - operatorCoreType: `OPENBLAS_CORETYPE` as the operator set it, or nil.
    ///   - open: loads the library, forcing the given core type (nil: leave the environment alone); returns
    ///     the entry points or an error message.
    ///   - selfCheck: largest relative error of an sgemm against the naive GEMM (`.infinity` for NaN/garbage).
    public static func resolve(
        operatorCoreType: String?, cpu: CPUFeatures, open: (String?) -> Result<Loaded, LoadError>,
        selfCheck: (SGEMMFunction) -> Float, tolerance: Float = GemmSelfCheck.tolerance
    ) -> BLASBackend {
        let requested = operatorCoreType ?? OpenBLASCoreChoice.coreType(for: cpu)
        let selection: Selection =
            operatorCoreType != nil ? .operatorCoreType : (requested != nil ? .cpuFeatures : .libraryDefault)
        // The operator's variable is already in the environment: never force anything over it.
        let loaded: Loaded
        switch open(operatorCoreType != nil ? nil : requested) {
        case .success(let l): loaded = l
        case .failure(let e):
            return portable(selection: .fallback, requested: requested, error: nil, problem: e.message)
        }
        let err = selfCheck(loaded.sgemm)
        guard err <= tolerance else {
            return portable(
                selection: .fallback, requested: requested, error: err,
                problem: "OpenBLAS core \(loaded.coreName) failed the GEMM self-check (max relative error "
                    + "\(formatE(err)) > \(formatE(tolerance))); using the portable Swift GEMM")
        }
        return BLASBackend(
            library: .openblas, libraryDetail: "\(loaded.file): \(loaded.config)", kernel: loaded.coreName,
            selection: selection, requestedCoreType: requested, selfCheckError: err, problem: nil,
            sgemm: loaded.sgemm, setThreads: loaded.setThreads, getThreads: loaded.getThreads)
    }

    static func portable(selection: Selection, requested: String?, error: Float?, problem: String) -> BLASBackend {
        BLASBackend(
            library: .portable, libraryDetail: "swift", kernel: "portable", selection: selection,
            requestedCoreType: requested, selfCheckError: error, problem: problem, sgemm: nil, setThreads: nil,
            getThreads: nil)
    }

    /// A library that could not be loaded.
    public struct LoadError: Error, Sendable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// Library files tried in order; `CROWDTRAIN_BLAS_LIBRARY` (a path) goes first when set.
    static var candidateFiles: [String] {
        var names = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib"]
        if let p = getenv("CROWDTRAIN_BLAS_LIBRARY") { names.insert(String(cString: p), at: 0) }
        return names
    }

    /// dlopen + dlsym of OpenBLAS; `OPENBLAS_CORETYPE=forced` only while the library initialises.
    static func openOpenBLAS(forcing forced: String?) -> Result<Loaded, LoadError> {
        if let forced { setenv("OPENBLAS_CORETYPE", forced, 1) }
        defer { if forced != nil { unsetenv("OPENBLAS_CORETYPE") } }
        var errors: [String] = []
        for file in candidateFiles {
            guard let h = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
                errors.append(dlerror().map { String(cString: $0) } ?? file)
                continue
            }
            guard let g = dlsym(h, "cblas_sgemm") else {
                errors.append("\(file) has no cblas_sgemm")
                continue
            }
            let coreName = cString(h, "openblas_get_corename") ?? "unknown"
            let config = cString(h, "openblas_get_config") ?? ""
            return .success(Loaded(
                file: file, config: config, coreName: coreName, sgemm: unsafeBitCast(g, to: SGEMMFunction.self),
                setThreads: dlsym(h, "openblas_set_num_threads").map {
                    unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self)
                },
                getThreads: dlsym(h, "openblas_get_num_threads").map {
                    unsafeBitCast($0, to: (@convention(c) () -> Int32).self)
                }))
        }
        return .failure(LoadError(
            "OpenBLAS not found (\(errors.joined(separator: "; "))); install it (Debian: apt-get install "
                + "libopenblas0-pthread) or set CROWDTRAIN_BLAS_LIBRARY; using the portable Swift GEMM (several times slower)"))
    }
}

/// Calls a `char *f(void)` symbol of `handle`, if present.
private func cString(_ handle: UnsafeMutableRawPointer, _ symbol: String) -> String? {
    guard let f = dlsym(handle, symbol) else { return nil }
    let fn = unsafeBitCast(f, to: (@convention(c) () -> UnsafeMutablePointer<CChar>?).self)
    return fn().map { String(cString: $0) }
}

func formatE(_ x: Float) -> String {
    guard x.isFinite, x > 0 else { return x == 0 ? "0" : "\(x)" }
    var e = 0
    var m = Double(x)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    let r = (m * 10).rounded() / 10
    return "\(r)e\(e < 0 ? "-" : "+")\(abs(e) < 10 ? "0" : "")\(abs(e))"
}
