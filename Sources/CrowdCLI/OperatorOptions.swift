import ArgumentParser
import CrowdClient
import Foundation

/// How the operator commands (`coordinator invite|revoke|audit|export|settings`) reach the operator API: either
/// `--coordinator URL --ca FILE --operator-token FILE` (any host), or `--dir D` on the coordinator's own host, which
/// takes the address from `D/campaign.json`, the CA from `D/ca.pem` and the token from `D/operator.token`.
struct OperatorOptions: ParsableArguments {
    @Option(help: "Coordinator URL, https://HOST:PORT (with --ca and --operator-token).")
    var coordinator: String?

    @Option(help: "The campaign's CA certificate (ca.pem).")
    var ca: String?

    @Option(
        name: .customLong("operator-token"),
        help: ArgumentHelp("The operator token file `coordinator init` wrote (operator.token).", valueName: "file"))
    var operatorToken: String?

    @Option(help: "On the coordinator's host: the campaign directory (instead of the three options above).")
    var dir: String?

    func validate() throws {
        let remote = [coordinator, ca, operatorToken].compactMap { $0 }.count
        if dir != nil {
            guard remote == 0 else {
                throw ValidationError("pass either --dir or --coordinator/--ca/--operator-token, not both")
            }
        } else {
            guard remote == 3 else {
                throw ValidationError(
                    "pass --coordinator URL --ca FILE --operator-token FILE (or --dir on the coordinator's host)")
            }
            guard coordinator!.lowercased().hasPrefix("https://") else {
                throw ValidationError("--coordinator must start with https:// (plaintext HTTP is refused)")
            }
        }
    }

    /// A client holding the operator token; the caller must `shutdown()` it (`using`).
    func client(timeoutSeconds: Int64 = 120) throws -> CoordinatorClient {
        let (url, caFile, tokenFile) = try endpoint()
        return try CoordinatorClient(
            baseURL: url, caFile: caFile, secret: try CoordinatorClient.operatorToken(file: tokenFile),
            timeoutSeconds: timeoutSeconds)
    }

    func endpoint() throws -> (url: String, ca: String, token: String) {
        guard let dir else { return (coordinator!, ca!, operatorToken!) }
        let root = (dir as NSString).standardizingPath
        func file(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
        guard let data = FileManager.default.contents(atPath: file("campaign.json")),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw ValidationError("no campaign in \(root) (campaign.json is missing); run `crowdtrain coordinator init`")
        }
        let port = (object["port"] as? Int) ?? 8443
        let bind = (object["bind"] as? String) ?? (object["host"] as? String) ?? "127.0.0.1"
        // A wildcard bind listens on loopback too; the certificate always names 127.0.0.1.
        let host = ["0.0.0.0", "::", ""].contains(bind) ? "127.0.0.1" : (bind.contains(":") ? "[\(bind)]" : bind)
        return ("https://\(host):\(port)", file("ca.pem"), file("operator.token"))
    }
}
