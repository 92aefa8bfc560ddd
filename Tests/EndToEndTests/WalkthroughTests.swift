import Foundation
import Testing

/// The newcomer's path: the README pasted in order (scripts/walkthrough), and every script answering `--help`.
@Suite("README walkthrough and scripts")
struct WalkthroughTests {
    private var root: URL { Executables.packageRoot }

    /// What scripts/walkthrough checks is listed in the script itself: the demo, `scripts/dev up/env/status/down`,
    /// the API's curl lines, notifyctl, a standalone sandbox, pre-trades and the control API up to a paid and refunded
    /// order, the runbook (env file, backup, restore refused while the daemons run and done once they stopped), and
    /// the install dry run.
    @Test("the README's commands, pasted in order into a fresh copy of the repository, work")
    func readmeWalkthrough() async throws {
        for executable in Operations.executables { _ = try Executables.path(executable) }
        var environment = ProcessInfo.processInfo.environment
        environment["BIN_DIR"] = Executables.directory.path
        // The walk starts its own dev stack: drop the test run's settings that would point it elsewhere.
        for key in environment.keys where key.hasPrefix("ALIPAY_") || key.hasPrefix("STORE_") || key.hasPrefix("API_") {
            environment.removeValue(forKey: key)
        }
        let result = try await Command.run(root.appendingPathComponent("scripts/walkthrough").path, [], environment: environment)
        #expect(result.status == 0, "scripts/walkthrough exited \(result.status):\n\(result.output.suffix(6000))")
        #expect(result.output.contains("steps passed"))
    }

    /// Every script prints its usage for --help and -h and exits 0 before doing anything (no build, no server).
    @Test("every script answers --help with its usage and exit 0")
    func everyScriptHasHelp() async throws {
        let scripts = root.appendingPathComponent("scripts")
        let enumerator = try #require(FileManager.default.enumerator(at: scripts, includingPropertiesForKeys: [.isRegularFileKey]))
        var checked = 0
        for case let url as URL in enumerator {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            guard !relative.hasPrefix("scripts/lib/"), FileManager.default.isExecutableFile(atPath: url.path),
                (try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
            else { continue }
            for flag in ["--help", "-h"] {
                let result = try await Command.run(url.path, [flag], in: FileManager.default.temporaryDirectory)
                #expect(result.status == 0, "\(relative) \(flag) exited \(result.status): \(result.output.prefix(300))")
                #expect(result.output.lowercased().contains("usage"), "\(relative) \(flag) prints no usage: \(result.output.prefix(300))")
                #expect(!result.output.contains("set -euo pipefail"), "\(relative) \(flag) prints its source")
            }
            checked += 1
        }
        #expect(checked >= 20, "found only \(checked) scripts under scripts/")
    }

    @Test("a script given an unknown argument says so and exits 2")
    func unknownArgumentsExitTwo() async throws {
        for script in ["scripts/demo", "scripts/dev", "scripts/chaos", "scripts/postgres", "scripts/walkthrough"] {
            let result = try await Command.run(root.appendingPathComponent(script).path, ["--no-such-flag"], in: FileManager.default.temporaryDirectory)
            #expect(result.status == 2, "\(script) --no-such-flag exited \(result.status): \(result.output.prefix(300))")
        }
    }
}
