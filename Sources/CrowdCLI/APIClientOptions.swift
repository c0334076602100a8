import ArgumentParser
import CrowdClient
import CrowdPeer

/// `--coordinator` and `--ca`, shared by the commands that read the public API.
struct APIClientOptions: ParsableArguments {
    @Option(help: "Coordinator URL, https://HOST:PORT.")
    var coordinator: String

    @Option(help: "The campaign's CA certificate (ca.pem). Only this CA is trusted.")
    var ca: String

    func validate() throws {
        guard coordinator.lowercased().hasPrefix("https://") else {
            throw ValidationError("--coordinator must start with https:// (plaintext HTTP is refused)")
        }
    }

    /// A client for the public endpoints; the caller must `shutdown()` it.
    func client() throws -> CoordinatorClient {
        try CoordinatorClient(baseURL: coordinator, caFile: ca, timeoutSeconds: 30)
    }
}

extension CoordinatorClient {
    /// Runs `body` with this client and shuts it down afterwards, also on error.
    func using<T: Sendable>(_ body: (CoordinatorClient) async throws -> T) async throws -> T {
        do {
            let value = try await body(self)
            await shutdown()
            return value
        } catch {
            await shutdown()
            throw error
        }
    }
}
