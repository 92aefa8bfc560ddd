import AlipayKit
import ArgumentParser
import Foundation

/// `notifyctl keys …`: key material for the Alipay console.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Generate the app key pair.", subcommands: [Generate.self])

    /// `notifyctl keys generate --dir DIR`.
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a 2048-bit app key pair (PEM) and the bare base64 public key to paste into the Alipay console.")

        @Option(name: .long, help: "Folder to write app_private_key.pem, app_public_key.pem and app_public_key.txt into.")
        var dir: String

        @Flag(name: .long, help: "Overwrite existing key files.")
        var force = false

        static let fileNames = ["app_private_key.pem", "app_public_key.pem", "app_public_key.txt"]

        func run() async throws {
            try await reporting {
                let folder = URL(fileURLWithPath: dir, isDirectory: true)
                let paths = Self.fileNames.map { folder.appendingPathComponent($0).path }
                if !force, let existing = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) {
                    throw CLIFailure.configuration("\(existing) exists; refusing to overwrite a key (use --force to replace it)")
                }
                do {
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                } catch {
                    throw CLIFailure.configuration("cannot create \(dir): \(error.localizedDescription)")
                }
                let key = try RSAPrivateKey.generate()
                try writeFile(key.pemRepresentation, to: paths[0], mode: 0o600)
                try writeFile(key.publicKey.pemRepresentation, to: paths[1], mode: 0o644)
                try writeFile(key.publicKey.base64DER + "\n", to: paths[2], mode: 0o644)
                print("wrote \(paths[0]) (mode 0600: keep it secret; ALIPAY_APP_PRIVATE_KEY_FILE)")
                print("wrote \(paths[1])")
                print("wrote \(paths[2])")
                print("")
                print("Paste this app public key into the Alipay console (开发设置 → 接口加签方式 → 公钥):")
                print(key.publicKey.base64DER)
                print("")
                print("Then copy the *Alipay public key* the console shows into a file for ALIPAY_PUBLIC_KEY_FILE.")
            }
        }
    }
}
