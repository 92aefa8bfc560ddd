import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The exit of a `Process`, awaited without blocking a thread. Create it before `run()`.
///
/// Tests never call `Process.waitUntilExit()`: it spins a run loop on the calling thread until Foundation's own
/// thread reports the exit, which parks one of the cooperative pool's two threads on this 2-core machine and has been
/// seen to hang a whole test run. The termination handler is Foundation's signal that the child was reaped.
public final class ProcessExit: Sendable {
    private let exitStatus = Mutex<Int32?>(nil)

    public init(watching process: Process) {
        process.terminationHandler = { [self] process in
            let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
            exitStatus.withLock { $0 = status }
        }
    }

    /// The exit status (128+signal when a signal ended it), or nil while the process runs.
    public var status: Int32? { exitStatus.withLock { $0 } }

    /// Waits for the exit at most `timeout`; nil when the process still runs then.
    public func wait(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status { return status }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A program a test runs to completion (`openssl`, `notifyctl`, the reference library's script): its exit status and
/// what it printed.
///
/// Output goes to files, not pipes, so a chatty program never blocks on a full pipe; `input` is written to a file
/// and becomes its standard input. `timeout` only bounds a hang: past it the program is killed and the error carries
/// what it printed.
public struct ChildProcess: Sendable {
    /// The exit status, or 128+signal when a signal ended it.
    public let status: Int32
    /// Standard output; with `mergeOutput`, standard output and error interleaved as written.
    public let output: String
    /// Standard error (empty with `mergeOutput`).
    public let errorOutput: String

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func run(
        _ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil,
        input: Data? = nil, mergeOutput: Bool = false, timeout: Duration = .seconds(300)
    ) async throws -> ChildProcess {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("alipay-notify-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func file(_ name: String, _ contents: Data? = nil) throws -> URL {
            let url = folder.appendingPathComponent(name)
            _ = FileManager.default.createFile(atPath: url.path, contents: contents)
            return url
        }
        let outFile = try file("stdout")
        let errFile = try file("stderr")
        let out = try FileHandle(forWritingTo: outFile)
        let err = mergeOutput ? out : try FileHandle(forWritingTo: errFile)
        let stdin = try input.map { try FileHandle(forReadingFrom: try file("stdin", $0)) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin ?? FileHandle.nullDevice
        let exit = ProcessExit(watching: process)
        do {
            try process.run()
        } catch {
            try? out.close()
            try? err.close()
            throw Failure(description: "\(executable) could not start: \(error)")
        }
        // The child holds its own copies.
        try? out.close()
        if !mergeOutput { try? err.close() }
        try? stdin?.close()

        let status = try await exit.wait(timeout: timeout)
        let printed = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
        let printedErrors = mergeOutput ? "" : (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        guard let status else {
            kill(process.processIdentifier, SIGKILL)
            _ = try? await exit.wait(timeout: .seconds(10))
            throw Failure(
                description: "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout); output:\n\(printed)\(printedErrors)")
        }
        return ChildProcess(status: status, output: printed, errorOutput: printedErrors)
    }
}
