import ArgumentParser
import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import NotifyCore
import NotifyStore

/// Options every command that reads the configuration accepts.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON configuration file (default: $ALIPAY_NOTIFY_CONFIG; environment variables win).")
    var config: String?

    /// The configuration, or exit 2 with one line naming the problem.
    func load() async throws -> NotifyConfiguration {
        let configuration: NotifyConfiguration
        do {
            configuration = try await NotifyConfiguration.load(configFile: config)
        } catch {
            throw CLIFailure.configuration("\(error)")
        }
        for warning in configuration.warnings { FileHandle.standardError.write(Data("notifyctl: warning: \(warning)\n".utf8)) }
        return configuration
    }
}

/// How a command ends when it does not succeed: one line on standard error and a meaningful exit code.
enum CLIFailure: Error, CustomStringConvertible {
    /// The answer is "no": not found, invalid signature (exit 1).
    case no(String)
    /// Bad usage or configuration (exit 2).
    case configuration(String)
    /// Something failed at run time (database unavailable, gateway unreachable) (exit 1).
    case failed(String)

    var description: String {
        switch self {
        case .no(let message), .configuration(let message), .failed(let message): message
        }
    }

    var exitCode: Int32 {
        switch self {
        case .no, .failed: 1
        case .configuration: 2
        }
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a `CLIFailure` (or any other error) into one line on standard error and the right exit code.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            FileHandle.standardError.write(Data("notifyctl: \(failure.description)\n".utf8))
            throw ExitCode(failure.exitCode)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("notifyctl: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Runs `body` with the configured store open, then closes it; fails with one clear line when it cannot be opened.
///
/// `creating` is for commands that write (`orders create`, `db migrate`): they may create an SQLite file and apply
/// pending migrations. The others refuse a missing SQLite file instead of quietly creating an empty one — an
/// operator pointed at the wrong folder would otherwise read an empty queue and conclude all is well.
func withStore<T>(_ configuration: NotifyConfiguration, creating: Bool = false, _ body: (any Store) async throws -> T) async throws -> T {
    let url = configuration.storeURL
    if !creating, case .sqlite(let path) = url, !FileManager.default.fileExists(atPath: path) {
        throw CLIFailure.configuration(
            "store.url (STORE_URL) \(url): no database at \(path) (working directory \(FileManager.default.currentDirectoryPath)); "
                + "point STORE_URL or --config at the daemons' database, or run `notifyctl db migrate` to create one here")
    }
    let store: any Store
    do {
        store = try await StoreEngines.open(url, options: .init(migrate: creating), logger: Logger(label: "notifyctl"))
    } catch {
        throw CLIFailure.failed("store \(url): \(error)")
    }
    return try await StoreEngines.closing(store, body)
}

/// Prints a value as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Renders rows as an aligned plain-text table with a header.
func renderTable(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

/// Writes a file created with `mode` from the start, so a private key is never readable by others, even briefly.
func writeFile(_ text: String, to path: String, mode: mode_t) throws {
    let temporary = path + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw CLIFailure.failed("cannot write \(path): \(String(cString: strerror(errno)))") }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == bytes.count, synced, rename(temporary, path) == 0 else {
        unlink(temporary)
        throw CLIFailure.failed("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    chmod(path, mode)
}
