import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// Options every command that reads the configuration accepts.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON configuration file (default: $ALIPAY_NOTIFY_CONFIG; environment variables win).")
    var config: String?

    /// The configuration, or exit 2 with one line naming the problem.
    func load() async throws -> NotifyConfiguration {
        do {
            return try await NotifyConfiguration.load(configFile: config)
        } catch {
            throw CLIFailure.configuration("\(error)")
        }
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

/// Opens the configured database (applying pending migrations), or fails with a clear line.
func openDatabase(_ configuration: NotifyConfiguration) throws -> NotifyDatabase {
    do {
        return try NotifyDatabase(path: configuration.storePath)
    } catch {
        throw CLIFailure.failed("database \(configuration.storePath): \(error)")
    }
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
