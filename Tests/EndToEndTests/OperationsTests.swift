import Foundation
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operator's surface of docs/architecture.md: the systemd units in `deploy/systemd`, `scripts/install`, and the
/// `sd_notify` conversation both daemons have with systemd (READY=1, WATCHDOG=1, STOPPING=1).
enum Operations {
    /// The two units, by the executable each one starts.
    static let units = ["notify-receiver": "alipay-notify-receiver.service", "notify-worker": "alipay-notify-worker.service"]
    /// Everything `scripts/install` puts in `usr/local/bin`.
    static let executables = ["notify-receiver", "notify-worker", "notifyctl", "alipay-sandbox"]

    /// `deploy/systemd/<unit>`.
    static func unitFile(_ unit: String) -> URL {
        Executables.packageRoot.appendingPathComponent("deploy/systemd/\(unit)")
    }

    /// A unit's `Key=value` settings (comments and section headers dropped; a repeated key keeps every value).
    static func settings(of unit: String) throws -> [String: [String]] {
        var settings: [String: [String]] = [:]
        for line in try String(contentsOf: unitFile(unit), encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty, !text.hasPrefix("#"), !text.hasPrefix(";"), !text.hasPrefix("["), let equals = text.firstIndex(of: "=") else {
                continue
            }
            settings[String(text[..<equals]), default: []].append(String(text[text.index(after: equals)...]))
        }
        return settings
    }

    /// A fresh scratch folder (the caller removes it once the test passed).
    static func scratchFolder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-notify-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A file's permission bits.
    static func mode(_ url: URL) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

/// `systemd-analyze verify` over the units, as systemd itself would load them.
enum SystemdAnalyze {
    /// The tool, when this machine has it.
    static let path: String? = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Whether the verify tests can run; says why not (once per evaluation) when they cannot.
    static var isAvailable: Bool {
        if path != nil { return true }
        print("OperationsTests: skipping the systemd-analyze verify tests: systemd-analyze is not installed (apt-get install systemd)")
        return false
    }

    /// What `verify` said, sorted into what fails the test and what is expected on a development machine.
    struct Verdict {
        let status: Int32
        let output: String
        /// Lines about our units that are real unit-file problems: unknown keys, unparsable values, a missing command…
        let problems: [String]
        /// Lines that say the service account does not exist (`User=`/`Group=alipay-notify`).
        let missingAccount: [String]
        /// Lines about other units (the host's own, pulled in as dependencies such as network-online.target).
        let otherUnits: [String]

        /// Passing: no problem line, and a non-zero status only when the missing account explains it.
        var passes: Bool { problems.isEmpty && (status == 0 || !missingAccount.isEmpty) }
    }

    /// Verifies `units` (unit files in `folder`).
    ///
    /// The exit status alone decides nothing: `verify` exits 0 after "Unknown key 'ProtectSytem'" or "Failed to parse
    /// sec value" (the setting is just ignored), so every line it prints is read. Filtered, and why:
    /// - a missing user or group `alipay-notify`: `scripts/install` creates that system account on a server; a
    ///   development machine has none (systemd 252 does not check it, newer releases may say so);
    /// - lines that name neither of our units: the host's own units, loaded as dependencies, are not ours to judge
    ///   (`--recursive-errors=no` keeps them out of the exit status too).
    /// Everything else that names one of our units is a failure.
    static func verify(_ units: [String], in folder: URL) async throws -> Verdict {
        let tool = try #require(path)
        let result = try await Command.run(
            tool, ["verify", "--man=no", "--recursive-errors=no"] + units.map { folder.appendingPathComponent($0).path },
            in: folder, timeout: .seconds(120))
        var problems: [String] = []
        var missingAccount: [String] = []
        var otherUnits: [String] = []
        for line in result.output.split(separator: "\n").map(String.init) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let lowered = line.lowercased()
            if !units.contains(where: { line.contains($0) }) {
                otherUnits.append(line)
            } else if lowered.contains("alipay-notify") && (lowered.contains("user") || lowered.contains("group"))
                && ["not found", "no such", "unknown user", "unknown group", "failed to resolve", "does not exist"].contains(where: lowered.contains)
            {
                missingAccount.append(line)
            } else {
                problems.append(line)
            }
        }
        return Verdict(status: result.status, output: result.output, problems: problems, missingAccount: missingAccount, otherUnits: otherUnits)
    }

    /// Copies the units into `folder` with `ExecStart=` pointing at the built binaries (the units name
    /// `/usr/local/bin/…`, where `scripts/install` puts them; a development machine has them in `.build/debug`).
    static func copyUnits(into folder: URL, edit: (String, String) -> String = { text, _ in text }) throws -> [String] {
        var copied: [String] = []
        for (executable, unit) in Operations.units.sorted(by: { $0.key < $1.key }) {
            let original = try String(contentsOf: Operations.unitFile(unit), encoding: .utf8)
            let execStart = "ExecStart=/usr/local/bin/\(executable)"
            #expect(original.components(separatedBy: "\n").filter { $0 == execStart }.count == 1, "\(unit) starts \(execStart)")
            let rewritten = original.replacingOccurrences(of: execStart, with: "ExecStart=\(try Executables.path(executable))")
            try edit(rewritten, unit).write(to: folder.appendingPathComponent(unit), atomically: true, encoding: .utf8)
            copied.append(unit)
        }
        return copied
    }
}

@Suite("deploy/systemd units")
struct SystemdUnitTests {
    @Test(
        "systemd-analyze verify finds no problem in either unit",
        .enabled(if: SystemdAnalyze.isAvailable, "needs systemd-analyze (/usr/bin/systemd-analyze); skipped where systemd is not installed"))
    func verifyPasses() async throws {
        let folder = try Operations.scratchFolder("units")
        var units = try SystemdAnalyze.copyUnits(into: folder)
        // The backup service and its timer run notifyctl through /bin/sh: they are checked as they are.
        for unit in ["alipay-notify-backup.service", "alipay-notify-backup.timer"] {
            try FileManager.default.copyItem(at: Operations.unitFile(unit), to: folder.appendingPathComponent(unit))
            units.append(unit)
        }
        let verdict = try await SystemdAnalyze.verify(units, in: folder)
        for line in verdict.missingAccount { print("systemd-analyze (expected here, no alipay-notify account): \(line)") }
        for line in verdict.otherUnits { print("systemd-analyze (not about our units, ignored): \(line)") }
        #expect(verdict.problems.isEmpty, "unit-file problems:\n\(verdict.problems.joined(separator: "\n"))")
        #expect(verdict.passes, "systemd-analyze verify exited \(verdict.status):\n\(verdict.output)")
        if verdict.passes { try? FileManager.default.removeItem(at: folder) }
    }

    /// The filter above must not hide real mistakes: a unit with a misspelt key and an unparsable value fails it,
    /// although `systemd-analyze verify` itself exits 0 for both.
    @Test(
        "a misspelt key or a bad value in a unit is caught",
        .enabled(if: SystemdAnalyze.isAvailable, "needs systemd-analyze (/usr/bin/systemd-analyze); skipped where systemd is not installed"))
    func verifyCatchesMistakes() async throws {
        let folder = try Operations.scratchFolder("units-broken")
        let units = try SystemdAnalyze.copyUnits(into: folder) { text, unit in
            unit == "alipay-notify-worker.service"
                ? text.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSytem=strict")
                    .replacingOccurrences(of: "WatchdogSec=30s", with: "WatchdogSec=thirty")
                : text
        }
        let verdict = try await SystemdAnalyze.verify(units, in: folder)
        #expect(!verdict.passes)
        #expect(verdict.problems.contains { $0.contains("alipay-notify-worker.service") && $0.contains("ProtectSytem") }, "\(verdict.output)")
        #expect(verdict.problems.contains { $0.contains("thirty") }, "\(verdict.output)")
        #expect(!verdict.problems.contains { $0.contains("alipay-notify-receiver.service") }, "the receiver's unit is untouched")
        try? FileManager.default.removeItem(at: folder)
    }

    /// What the daemons and `scripts/install` rely on, and docs/architecture.md's operator surface promises.
    @Test("the units start the installed daemons as Type=notify services, watched and confined", arguments: Operations.units.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    func unitsKeepTheContract(executable: String, unit: String) throws {
        let settings = try Operations.settings(of: unit)
        func value(_ key: String) -> String? { settings[key]?.last }
        #expect(value("ExecStart") == "/usr/local/bin/\(executable)", "where scripts/install puts it")
        #expect(value("Type") == "notify", "the daemon sends READY=1 once it listens or drains")
        #expect(value("NotifyAccess") == "main")
        #expect(value("WatchdogSec").map { $0 != "0" && !$0.isEmpty } == true, "the daemon sends WATCHDOG=1 at half of WATCHDOG_USEC")
        #expect(value("Restart") == "on-failure")
        #expect(value("User") == "alipay-notify" && value("Group") == "alipay-notify", "the account scripts/install creates")
        #expect(value("EnvironmentFile") == "/etc/alipay-notify/env", "where scripts/install writes the configuration")
        #expect(value("ProtectSystem") == "strict" && value("NoNewPrivileges") == "true" && value("PrivateTmp") == "true")
        let storePath = try #require(settings["Environment"]?.first { $0.hasPrefix("STORE_URL=sqlite:") }?.dropFirst("STORE_URL=sqlite:".count))
        // env.example carries the same store, uncommented: notifyctl run with the env file reads the daemons' database.
        let example = try String(contentsOf: Executables.packageRoot.appendingPathComponent("deploy/env.example"), encoding: .utf8)
        let exampleStores = example.split(separator: "\n").filter { $0.hasPrefix("STORE_URL=") || $0.hasPrefix("STORE_PATH=") }
        #expect(exampleStores == ["STORE_URL=sqlite:\(storePath)"], "env.example and the unit disagree on the store: \(exampleStores)")
        let databaseFolder = (String(storePath) as NSString).deletingLastPathComponent
        #expect(value("ReadWritePaths")?.split(separator: " ").contains { $0 == databaseFolder } == true, "SQLite writes its -wal and -shm files beside the database")
        #expect(value("StateDirectory").map { "/var/lib/\($0)" } == databaseFolder, "systemd creates the database folder, owned by the service account")
        #expect(value("RestrictAddressFamilies")?.split(separator: " ").contains("AF_UNIX") == true, "sd_notify is a Unix datagram")
    }
}

@Suite("scripts/install")
struct InstallScriptTests {
    private var script: String { Executables.packageRoot.appendingPathComponent("scripts/install").path }

    @Test("--prefix installs the binaries, both units and the configuration; a second run keeps an edited env")
    func installsIntoAPrefixIdempotently() async throws {
        let prefix = try Operations.scratchFolder("install")
        let binDir = Executables.directory
        for executable in Operations.executables { _ = try Executables.path(executable) }
        let arguments = ["--prefix", prefix.path, "--no-build", "--bin-dir", binDir.path]

        let first = try await Command.run(script, arguments, in: FileManager.default.temporaryDirectory)
        try #require(first.status == 0, "scripts/install exited \(first.status):\n\(first.output)")
        let bin = prefix.appendingPathComponent("usr/local/bin")
        for executable in Operations.executables {
            let installed = bin.appendingPathComponent(executable)
            #expect(FileManager.default.isExecutableFile(atPath: installed.path), "\(executable) installed")
            #expect(try Operations.mode(installed) == 0o755)
            let size = { (url: URL) in try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber }
            #expect(try size(installed) == size(binDir.appendingPathComponent(executable)), "\(executable) is the built one")
        }
        for unit in Array(Operations.units.values) + ["alipay-notify-backup.service", "alipay-notify-backup.timer"] {
            let installed = prefix.appendingPathComponent("etc/systemd/system/\(unit)")
            #expect(FileManager.default.contentsEqual(atPath: installed.path, andPath: Operations.unitFile(unit).path), "\(unit) installed as shipped")
            #expect(try Operations.mode(installed) == 0o644)
        }
        let example = Executables.packageRoot.appendingPathComponent("deploy/env.example")
        let env = prefix.appendingPathComponent("etc/alipay-notify/env")
        let installedExample = prefix.appendingPathComponent("etc/alipay-notify/env.example")
        #expect(FileManager.default.contentsEqual(atPath: installedExample.path, andPath: example.path))
        #expect(FileManager.default.contentsEqual(atPath: env.path, andPath: example.path), "the first run writes env from the example")
        #expect(try Operations.mode(env) == 0o640, "env names key files and may hold API_TOKEN: not world-readable")
        #expect(first.output.contains("dry run into \(prefix.path) done"), "a --prefix run creates no user and reloads no systemd")

        // The operator edits env; a re-run (an upgrade) must keep the edit and still exit 0.
        let edited = try String(contentsOf: env, encoding: .utf8) + "ALIPAY_SELLER_ID=2088000000000001\n"
        try edited.write(to: env, atomically: true, encoding: .utf8)
        let second = try await Command.run(script, arguments, in: FileManager.default.temporaryDirectory)
        try #require(second.status == 0, "the second run exited \(second.status):\n\(second.output)")
        #expect(try String(contentsOf: env, encoding: .utf8) == edited, "the edited env survives a re-run")
        #expect(FileManager.default.contentsEqual(atPath: installedExample.path, andPath: example.path), "env.example is refreshed")
        #expect(second.output.contains("kept the existing"))
        for executable in Operations.executables {
            #expect(FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(executable).path))
        }
        try? FileManager.default.removeItem(at: prefix)
    }

    /// The script moves to the repository before installing: relative folders must still mean the caller's folders.
    /// Stand-in executables keep this test from copying the real (large) binaries again.
    @Test("relative --prefix and --bin-dir are the caller's folders")
    func relativeFoldersAreTheCallers() async throws {
        let folder = try Operations.scratchFolder("install-relative")
        let bin = folder.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for executable in Operations.executables {
            let path = bin.appendingPathComponent(executable).path
            _ = FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\necho \(executable)\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        let result = try await Command.run(script, ["--prefix", "root", "--no-build", "--bin-dir", "bin"], in: folder)
        // Had the prefix been taken from the repository's folder, clean that up before failing.
        let misplaced = Executables.packageRoot.appendingPathComponent("root")
        if FileManager.default.fileExists(atPath: misplaced.appendingPathComponent("etc/alipay-notify/env.example").path) {
            try? FileManager.default.removeItem(at: misplaced)
            Issue.record("scripts/install put a relative --prefix under the repository")
        }
        try #require(result.status == 0, "scripts/install exited \(result.status):\n\(result.output)")
        for executable in Operations.executables {
            let installed = folder.appendingPathComponent("root/usr/local/bin/\(executable)")
            #expect(try String(contentsOf: installed, encoding: .utf8).contains("echo \(executable)"), "the stand-in from ./bin")
        }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("root/etc/alipay-notify/env").path))
        try? FileManager.default.removeItem(at: folder)
    }
}

/// Both daemons under a stand-in for systemd: a datagram socket as `NOTIFY_SOCKET` and a short `WATCHDOG_USEC`.
@Suite("notify-worker and notify-receiver under systemd's notify protocol", .serialized)
struct DaemonNotifyTests {
    /// 200 ms: the daemons ping every 100 ms, so a few pings come quickly; how many arrive in any time is not asserted.
    private let watchdog = ["WATCHDOG_USEC": "200000"]

    /// READY=1, then WATCHDOG=1 again and again while running, then STOPPING=1 on SIGTERM and exit 0.
    private func converse(_ executable: String, _ workspace: TestWorkspace, ready: (_ receiverPort: Int, _ apiPort: Int) async throws -> Void) async throws {
        let socket = try NotifySocket(path: workspace.file("notify.sock").path)
        let receiverPort = try Ports.free()
        let apiPort = try Ports.free()
        let process = try DaemonProcess.start(
            executable,
            environment: workspace.environment(
                receiverPort: receiverPort, apiPort: apiPort, extra: watchdog.merging(["NOTIFY_SOCKET": socket.path]) { $1 }),
            logFile: workspace.file("\(executable).log"))
        do {
            try await socket.waitFor("READY=1")
            try await ready(receiverPort, apiPort)
            // Pings after READY=1 (any before it were read while waiting for READY=1): the watchdog keeps going.
            for _ in 1...3 { try await socket.waitFor("WATCHDOG=1") }
            process.signal(SIGTERM)
            try await socket.waitFor("STOPPING=1")
            #expect(try await process.waitForExit() == 0, "log:\n\(process.log)")
        } catch {
            await process.stop()
            throw HarnessError("\(error)\n\(executable) log:\n\(process.log)")
        }
        workspace.remove()
    }

    @Test("notify-worker: READY=1 once draining, WATCHDOG=1 while healthy, STOPPING=1 and exit 0 on SIGTERM")
    func worker() async throws {
        try await converse("notify-worker", try TestWorkspace(name: "worker-systemd")) { _, _ in }
    }

    @Test("notify-receiver: WATCHDOG=1 while healthy, between READY=1 and STOPPING=1")
    func receiverWatchdog() async throws {
        try await converse("notify-receiver", try TestWorkspace(name: "receiver-watchdog")) { (receiverPort: Int, apiPort: Int) async throws in
            // READY=1 promises both listeners accept connections right now.
            #expect(try await HTTP.send(.GET, "http://127.0.0.1:\(receiverPort)/healthz").status == 200)
            #expect(try await HTTP.send(.GET, "http://127.0.0.1:\(apiPort)/readyz").status == 200)
        }
    }
}
