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
        let port = try await server.port()
        var configuration = Fixtures.alipayConfiguration()
        configuration.alipayPublicKey = alipayPublicKey
        configuration.gatewayURL = "http://127.0.0.1:\(port)/gateway.do"
        let client = AlipayClient(configuration: configuration)
        let outcome = await client.execute(TradeQuery(outTradeNo: "EXE1"))
        guard case .tradeNotExist = outcome else {
            Issue.record("expected a verified ACQ.TRADE_NOT_EXIST, got \(outcome)")
            server.terminate()
            return
        }
        let status = await server.stop()
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
    private let lines: AsyncStream<String>
    private let exit: AsyncStream<Int32>

    private init(arguments: [String], environment: [String: String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let (lines, linesContinuation) = AsyncStream.makeStream(of: String.self)
        let (exit, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
        self.lines = lines
        self.exit = exit
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
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        try process.run()
    }

    /// Starts the binary and leaves it running.
    static func start(_ arguments: [String], environment: [String: String]) throws -> SandboxProcess {
        try SandboxProcess(arguments: arguments, environment: environment)
    }

    /// Runs the binary to completion.
    static func run(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stderr: String) {
        let process = try SandboxProcess(arguments: arguments, environment: environment)
        let status = await process.status()
        for await _ in process.lines {}
        return (status, process.stderr)
    }

    /// Everything written to standard error so far.
    var stderr: String { output.text }

    /// The port from the start-up log line.
    func port() async throws -> Int {
        for await _ in lines {
            if let match = stderr.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/) { return Int(match.1)! }
        }
        throw TimedOut(what: "the listening line; stderr: \(stderr)")
    }

    /// Sends SIGTERM and returns the exit status.
    func stop() async -> Int32 {
        process.terminate()
        return await status()
    }

    func terminate() { process.terminate() }

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
