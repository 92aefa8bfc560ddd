#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The character set of a notification (its `charset` field): UTF-8, or GBK on old accounts.
///
/// GBK is converted with the C library's iconv (glibc ships the GBK gconv module in libc6),
/// so the sign string can be verified over the very bytes Alipay signed.
enum Charset: String, Sendable {
    case utf8 = "utf-8"
    case gbk = "gbk"
    case gb18030 = "gb18030"

    /// Maps a `charset` value as Alipay writes it ("utf-8", "UTF-8", "GBK", "gb2312"…); nil when unsupported.
    init?(name: String) {
        switch name.lowercased() {
        case "utf-8", "utf8": self = .utf8
        // GB2312 is a subset of GBK, so GBK decoding reads it too.
        case "gbk", "gb2312", "cp936": self = .gbk
        case "gb18030": self = .gb18030
        default: return nil
        }
    }

    private var iconvName: String {
        switch self {
        case .utf8: "UTF-8"
        case .gbk: "GBK"
        case .gb18030: "GB18030"
        }
    }

    /// Decodes `bytes` in this charset; nil when they are not valid in it.
    func decode(_ bytes: [UInt8]) -> String? {
        switch self {
        case .utf8:
            return String(validating: bytes, as: UTF8.self)
        case .gbk, .gb18030:
            guard bytes.contains(where: { $0 >= 0x80 }) else { return String(decoding: bytes, as: UTF8.self) }
            guard let utf8 = Self.convert(bytes, from: iconvName, to: "UTF-8") else { return nil }
            return String(validating: utf8, as: UTF8.self)
        }
    }

    /// Encodes `string` in this charset; nil when a character has no representation in it.
    func encode(_ string: String) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        switch self {
        case .utf8:
            return utf8
        case .gbk, .gb18030:
            guard utf8.contains(where: { $0 >= 0x80 }) else { return utf8 }
            return Self.convert(utf8, from: "UTF-8", to: iconvName)
        }
    }

    private static func convert(_ input: [UInt8], from source: String, to target: String) -> [UInt8]? {
        let descriptor = iconv_open(target, source)
        guard let descriptor, descriptor != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(descriptor) }
        var input = input
        // Four output bytes per input byte covers every GBK/GB18030 <-> UTF-8 conversion.
        var output = [UInt8](repeating: 0, count: input.count * 4 + 4)
        let written: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                inBuffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: inBuffer.count) { inBase in
                    outBuffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: outBuffer.count) { outBase in
                        var inPointer: UnsafeMutablePointer<CChar>? = inBase
                        var inLeft = inBuffer.count
                        var outPointer: UnsafeMutablePointer<CChar>? = outBase
                        var outLeft = outBuffer.count
                        let result = iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft)
                        guard result != -1, inLeft == 0 else { return nil }
                        return outBuffer.count - outLeft
                    }
                }
            }
        }
        guard let written else { return nil }
        return Array(output[..<written])
    }
}
