import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes the sandbox's key and certificate files.
enum SandboxFiles {
    /// Writes `text` to `path`, created with `mode` from the first byte (open(2) with the mode, then written), so a
    /// private key is never readable by others, not even between creating the file and changing its permissions.
    static func write(_ text: String, to path: String, mode: mode_t) -> Bool {
        unlink(path)  // --force replaces: a fresh file gets the mode; an existing one would keep its own
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        return written == bytes.count && fsync(fd) == 0
    }
}
