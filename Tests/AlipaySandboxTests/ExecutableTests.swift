import AlipayKit
import Foundation
import Synchronization
import Testing

/// The `alipay-sandbox` executable as an operator runs it: one clear line and exit 2 on bad configuration,
/// `keys --dir`, serving signed gateway calls, and a clean exit 0 on SIGTERM.
@Suite(.enabled(if: SandboxProcess.isBuilt, "build the alipay-sandbox product first (swift build)"))
struct ExecutableTests {
    @Test func missingKeyPrintsOneLineAndExits2() async throws {
        let result = try await SandboxProcess.run([], environment: [:])
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("SANDBOX_APP_ID") == true)
        #expect(lines.first?.contains("--app-id") == true)
    }

    @Test func unreadableKeyFileIsNamed() async throws {
        let result = try await SandboxProcess.run(
            ["--app-id", "2021000000000001", "--seller-id", "2088000000000001", "--alipay-private-key-file", "/nonexistent/key.pem",
             "--app-public-key-file", "/nonexistent/app.pem"],
            environment: [:])
        #expect(result.status == 2)
        #expect(result.stderr.contains("sandbox.alipayPrivateKeyFile"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func servesSignedCallsAndStopsOnSIGTERM() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = try await SandboxProcess.run(["keys", "--dir", directory.path], environment: [:])
        #expect(keys.status == 0)
        let appKeyPath = directory.appendingPathComponent("app_public_key.pem").path
        try Fixtures.appKey.publicKey.pemRepresentation.write(toFile: appKeyPath, atomically: true, encoding: .utf8)
        let alipayPublicKey = try RSAPublicKey(
            contentsOfFile: directory.appendingPathComponent("alipay_public_key.txt").path, role: .alipayPublicKey)

        let server = try SandboxProcess.start(
            ["--port", "0", "--seller-id", Fixtures.sellerId, "--app-public-key-file", appKeyPath],
            environment: [
                "SANDBOX_APP_ID": Fixtures.appId,
                "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": directory.appendingPathComponent("alipay_private_key.pem").path,
            ])
        // Whatever fails below, the daemon does not outlive the test.
        defer { server.kill() }
        let port = try await server.port()
        var configuration = Fixtures.alipayConfiguration()
        configuration.alipayPublicKey = alipayPublicKey
        configuration.gatewayURL = "http://127.0.0.1:\(port)/gateway.do"
        let client = AlipayClient(configuration: configuration)
        let outcome = await client.execute(TradeQuery(outTradeNo: "EXE1"))
        guard case .tradeNotExist = outcome else {
            Issue.record("expected a verified ACQ.TRADE_NOT_EXIST, got \(outcome)")
            return
        }
        let status = try await server.stop()
        #expect(status == 0)
        #expect(!server.stderr.contains("PRIVATE KEY"))
    }
}

/// Runs the built `alipay-sandbox` binary.
final class SandboxProcess: Sendable {
    static let binary: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/alipay-sandbox").path
    }()

    static var isBuilt: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    private let process: Process
    private let output = TextBuffer()
    private let stderrFile: URL?
    private let lines: AsyncStream<String>
    private let exit: AsyncStream<Int32>

    /// Standard error goes to `stderrFile` when given (a run to completion), else through a pipe read as it comes (a
    /// server whose start-up line the test waits for). A run to completion must not wait for the pipe's end: on Linux
    /// the readability handler sometimes never sees it, although the process has exited and everything was read.
    private init(arguments: [String], environment: [String: String], stderrFile: URL? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        self.stderrFile = stderrFile
        let (lines, linesContinuation) = AsyncStream.makeStream(of: String.self)
        let (exit, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
        self.lines = lines
        self.exit = exit
        var fileHandle: FileHandle?
        if let stderrFile {
            _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
            fileHandle = try FileHandle(forWritingTo: stderrFile)
            process.standardError = fileHandle
            linesContinuation.finish()
        } else {
            let pipe = Pipe()
            process.standardError = pipe
            let output = self.output
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    linesContinuation.finish()
                    return
                }
                let text = String(decoding: data, as: UTF8.self)
                output.append(text)
                linesContinuation.yield(text)
            }
        }
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        try process.run()
        try? fileHandle?.close()
    }

    /// Starts the binary and leaves it running.
    static func start(_ arguments: [String], environment: [String: String]) throws -> SandboxProcess {
        try SandboxProcess(arguments: arguments, environment: environment)
    }

    /// Runs the binary to completion (a minute bounds a hang; it takes well under a second).
    static func run(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stderr: String) {
        let stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-sandbox-stderr-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stderrFile) }
        let process = try SandboxProcess(arguments: arguments, environment: environment, stderrFile: stderrFile)
        defer { process.kill() }
        // Once it has exited, everything it wrote is in the file.
        let status = try await withDeadline(seconds: 60, "alipay-sandbox \(arguments.first ?? "") to exit") { await process.status() }
        return (status, process.stderr)
    }

    /// Everything written to standard error so far.
    var stderr: String {
        guard let stderrFile else { return output.text }
        return (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
    }

    /// The port from the start-up log line (a minute bounds a hang; start-up takes well under a second).
    func port() async throws -> Int {
        try await withDeadline(seconds: 60, "the listening line") {
            for await _ in self.lines {
                if let match = self.stderr.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/) { return Int(match.1)! }
            }
            throw TimedOut(what: "the listening line before the process ended; stderr: \(self.stderr)")
        }
    }

    /// Sends SIGTERM and returns the exit status (a minute bounds a hang in the graceful shutdown).
    func stop() async throws -> Int32 {
        process.terminate()
        return try await withDeadline(seconds: 60, "exit after SIGTERM") { await self.status() }
    }

    /// SIGKILL, when the process still runs: the clean-up after a failed test.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    private func status() async -> Int32 {
        for await status in exit { return status }
        return process.terminationStatus
    }
}

/// Text appended from one thread and read from another.
final class TextBuffer: Sendable {
    private let storage = Mutex<String>("")

    var text: String { storage.withLock { $0 } }

    func append(_ more: String) {
        storage.withLock { $0 += more }
    }
}
