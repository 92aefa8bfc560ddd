import Foundation

/// Where the built executables are: `.build/debug/` of this package, or `$ALIPAY_NOTIFY_BIN_DIR`.
enum Executables {
    /// The package's root folder, found from this file's path (Tests/EndToEndTests/Support/…).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folder holding `notify-receiver`, `notify-worker`, `notifyctl` and `alipay-sandbox`.
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BIN_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    /// The path of an executable, or an error telling how to build it.
    static func path(_ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw HarnessError(
                "\(url.path) is missing: end-to-end tests start the real executables; run `swift build` (or `swift build --build-tests`) first, "
                    + "or set ALIPAY_NOTIFY_BIN_DIR to the folder holding them")
        }
        return url.path
    }
}

/// A failure of the test harness itself (not of the product), with a message saying what to do.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
