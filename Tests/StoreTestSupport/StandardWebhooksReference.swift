import Foundation
import Testing

/// The Standard Webhooks reference library (PyPI `standardwebhooks`, in the venv `scripts/bootstrap` makes), driven
/// through Tests/AlipayNotifyWebhooksTests/reference_check.py: the independent check of our signer and deliveries.
public enum StandardWebhooksReference {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The venv's python; nil (with the reason printed) when it is missing outside CI. In CI a missing one fails.
    public static func python() -> String? {
        let path = root.appendingPathComponent(".build/python-venv/bin/python").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
        let reason = "no \(path): run scripts/bootstrap (it installs the standardwebhooks reference library)"
        if TestEngine.isCI {
            Issue.record("\(reason); CI must run the reference check")
        } else {
            print("skipped: Standard Webhooks reference check: \(reason)")
        }
        return nil
    }

    /// One request line for the script.
    public static func line(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Sends the request lines, returns one answer per line.
    public static func run(_ python: String, _ lines: [String]) async throws -> [[String: Any]] {
        let script = root.appendingPathComponent("Tests/AlipayNotifyWebhooksTests/reference_check.py").path
        let result = try await ChildProcess.run(
            python, [script], input: Data((lines.joined(separator: "\n") + "\n").utf8), timeout: .seconds(120))
        #expect(result.status == 0, "reference_check.py exited \(result.status): \(result.errorOutput)")
        return try result.output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// Whether the reference library accepts one delivery (body and headers as received) for `secret`.
    public static func verifies(_ python: String, secret: String, body: String, headers: [String: String]) async throws -> Bool {
        let answers = try await run(python, [try line(["op": "verify", "secret": secret, "body": body, "headers": headers])])
        return answers.first?["ok"] as? Bool == true
    }
}
