import AlipayKit
import Foundation

/// `alipay-sandbox keys --dir DIR`: the "Alipay" key pair the sandbox signs with.
public enum SandboxKeys {
    /// The files written: private key (PKCS#8 PEM, mode 0600), public key (SPKI PEM), and the bare base64 public key
    /// the merchant configures as "Alipay's public key".
    public static let privateKeyFile = "alipay_private_key.pem"
    /// SPKI PEM public key.
    public static let publicKeyFile = "alipay_public_key.pem"
    /// Bare base64 public key, as the Alipay console shows it.
    public static let publicKeyBase64File = "alipay_public_key.txt"

    /// Generates a 2048-bit pair into `directory` (created if needed); refuses to overwrite unless `force`.
    /// Returns the paths written.
    @discardableResult
    public static func generate(into directory: String, force: Bool = false) throws(SandboxError) -> [String] {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .keyFiles(directory: directory, problem: "cannot create it (\(error.localizedDescription))")
        }
        let paths = [privateKeyFile, publicKeyFile, publicKeyBase64File].map { (directory as NSString).appendingPathComponent($0) }
        if !force, let existing = paths.first(where: manager.fileExists(atPath:)) {
            throw .keyFiles(directory: directory, problem: "\(existing) already exists; pass --force to replace the key pair")
        }
        let key: RSAPrivateKey
        do {
            key = try RSAPrivateKey.generate()
        } catch {
            throw .keyFiles(directory: directory, problem: "cannot generate a key (\(error))")
        }
        let contents = [key.pemRepresentation, key.publicKey.pemRepresentation, key.publicKey.base64DER]
        for (path, text) in zip(paths, contents) {
            let isPrivate = path == paths[0]
            // The private key is created with mode 0600 so it is never readable by others, even for an instant.
            guard SandboxFiles.write(text.hasSuffix("\n") ? text : text + "\n", to: path, mode: isPrivate ? 0o600 : 0o644)
            else {
                throw .keyFiles(directory: directory, problem: "cannot write \(path)")
            }
        }
        return paths
    }
}
