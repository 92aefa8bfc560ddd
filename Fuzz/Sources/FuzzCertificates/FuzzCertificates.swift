import AlipayKit
import Crypto
import Dispatch
import Foundation
import FuzzSupport

// Input: the contents of a certificate file (alipay.appCertFile, alipay.certFile, alipay.rootCertFile); when it starts
// like DER (0x30, a SEQUENCE, as every certificate does), the same bytes as the DER of one certificate, wrapped into a
// PEM block; and when it is at most 20 bytes long, the serial number of a fixture certificate. (Wrapping every input
// would spend half the run on PEM bodies whose first byte already fails; a serial taken from the front of every
// input would be "-----BEGIN CERTIFICA" nearly every time.)
//
// Properties:
// - AlipayCertificate: an accepted file has an SN of 32 lower-case hex digits, the SN CertificateSN.of gives its
//   certificate, an RSA key of at least 1024 bits (asked for no minimum: the legacy floor holds anyway; one under 2048
//   bits is refused at the default minimum), and one intermediate per certificate block after the first.
// - A certificate that chains to the fixture roots (chainProblem nil) is one the fixture CAs issued: its SN, subject and
//   key are those of a certificate in the fixture files (the fuzzer cannot forge a CA's RSA signature).
// - AlipayRootCertificates: an accepted file has an SN of one or more groups of 32 lower-case hex digits joined by `_`,
//   as many groups as the file has certificate blocks (BEGIN line to END line, found byte by byte) less the skipped
//   ones: the SNs of the roots its summaries count, in file order (at most `skipped` others loaded uncounted).
// - A CertificateError names the role it was asked for and never repeats the input's material: when a run of 24 base64
//   characters of the message is also in the input (whitespace removed), the input is loaded again with that run
//   changed (each character the next of its class), and the message must not follow it. The second load tells an echo
//   from the libraries' own words (`underlyingCoreCryptoError`, `X509/CertificatePublicKey`…), which libFuzzer learns
//   from comparisons and writes into inputs.
// - CertificateSN: a fixture certificate with any serial number (1–20 bytes, as a positive DER INTEGER) loads, and its SN
//   is the MD5 of its issuer and the serial in decimal as an independent reference computes it (UInt128 up to 16 bytes,
//   base-10⁹ limbs for any length: the two agree).

/// The fixture root file every accepted certificate is checked against.
let fixtureRootFile = Fixtures.certificateFile("alipayRootCert.crt")

/// The fixture roots, loaded for each check: a loaded `Certificate` kept in a global is reported as leaked by
/// LeakSanitizer (most likely because X509 holds its key and signature in multi-payload enums, whose spare bits tag the
/// pointers the scan looks for).
func fixtureRoots() -> AlipayRootCertificates {
    do {
        return try AlipayRootCertificates(pem: fixtureRootFile)
    } catch {
        Property.violated("the fixture roots do not load: \(error)")
    }
}

/// When chains are checked: inside every fixture certificate's validity (the tests use the same instant).
let validationTime = Date(timeIntervalSince1970: 1_900_000_000)

/// What identifies an issued certificate: its SN (issuer and serial), subject and key.
struct Issued: Hashable {
    let sn: String
    let subject: String
    let key: String

    init(_ certificate: AlipayCertificate) {
        sn = certificate.sn
        subject = certificate.subject
        key = certificate.publicKey.base64DER
    }
}

/// Every RSA-keyed certificate of the fixture files that chain to the fixture roots (leaves, their CA, the roots).
let issued: Set<Issued> = Set(
    ["alipayRootCert.crt", "alipayCertPublicKey_RSA2.crt", "appCertPublicKey.crt"].flatMap { file in
        PEMBlocks.split(Fixtures.certificateFile(file)).compactMap { der in
            try? AlipayCertificate(pem: PEMBlocks.wrap(der), role: .alipayCertificate, minimumBits: 0)
        }
    }.map(Issued.init))

/// appCertPublicKey.crt's certificate, cut around its serial number.
let serialTemplate: SerialTemplate = {
    guard let der = PEMBlocks.split(Fixtures.certificateFile("appCertPublicKey.crt")).first, let template = SerialTemplate(der) else {
        FileHandle.standardError.write(Data("fuzz: cannot find the serial number of appCertPublicKey.crt\n".utf8))
        exit(2)
    }
    return template
}()

/// Checks the fixtures before the first input, so that no property holds vacuously.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    for vector in Fixtures.certificateVectors.files {
        let text = Fixtures.certificateFile(vector.file)
        if let expected = vector.cert_sn {
            let certificate = try? AlipayCertificate(pem: text, role: .alipayCertificate, minimumBits: 0)
            Property.require(certificate?.sn == expected, "\(vector.file): SN \(certificate?.sn ?? "none"), expected \(expected)")
        }
        if let expected = vector.root_cert_sn {
            let roots = try? AlipayRootCertificates(pem: text)
            Property.require(roots?.sn == expected, "\(vector.file): root SN \(roots?.sn ?? "none"), expected \(expected)")
            Property.require(
                roots?.skipped == vector.certificates.filter { !$0.rsa_signed }.count, "\(vector.file): \(roots?.skipped ?? -1) skipped")
        }
        Property.require(PEMBlocks.count(text) == vector.certificates.count, "\(vector.file): \(PEMBlocks.count(text)) blocks counted")
        checkFile(text, blocks: vector.certificates.count, role: .alipayCertificate)
        checkFile(text, blocks: vector.certificates.count, role: .rootCertificate)
    }
    // The echo check catches a message that prints the body, and lets a library's words be.
    let body = Fixtures.certificateFile("appCertPublicKey.crt")
    Property.require(echoedMaterial(in: "bad: \(body)", text: body) { "bad: \($0)" } != nil, "the echo check misses a printed body")
    let words = "(underlyingCoreCryptoError(error: 1) X509/CertificatePublicKey.swift:58)"
    Property.require(echoedMaterial(in: words, text: "MIIB" + words + "AAAA") { _ in words } == nil, "the echo check takes a library's words for an echo")
    // The chain property needs certificates that do chain.
    for file in ["alipayCertPublicKey_RSA2.crt", "appCertPublicKey.crt"] {
        guard let certificate = try? AlipayCertificate(pem: Fixtures.certificateFile(file), role: .alipayCertificate) else {
            Property.violated("\(file) does not load")
        }
        Property.require(chainProblem(certificate) == nil, "\(file) does not chain to the fixture roots")
        Property.require(issued.contains(Issued(certificate)), "\(file) is not among the issued certificates")
    }
    // The serial template reproduces the vector (serial 7) and takes the longest serial (20 bytes of 0xFF).
    let seven = serialTemplate.certificate(serial: [7])
    Property.require(seven?.sn == "865a211bfe0e1c2f3b165441a3d848c7", "the serial template does not reproduce appCertPublicKey.crt")
    checkSerial(ArraySlice(repeating: 0xFF, count: 20))
    checkSerial([])
    return 0
}

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzCertificatesMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    if let text = String(validating: bytes, as: UTF8.self) {
        let blocks = PEMBlocks.count(text)
        checkFile(text, blocks: blocks, role: bytes.count % 2 == 0 ? .alipayCertificate : .appCertificate)
        checkFile(text, blocks: blocks, role: .rootCertificate)
    }
    if bytes.first == 0x30 {
        let pem = PEMBlocks.wrap(bytes)
        checkFile(pem, blocks: 1, role: .appCertificate)
        checkFile(pem, blocks: 1, role: .rootCertificate)
    }
    if bytes.count <= 20 { checkSerial(bytes[...]) }
    return 0
}

/// Loads `text`, which has `blocks` BEGIN lines, as `role` asks (a certificate file, or a root file for
/// `.rootCertificate`) and checks what came out.
func checkFile(_ text: String, blocks: Int, role: CertificateRole) {
    if role == .rootCertificate {
        do throws(CertificateError) {
            checkRoots(try AlipayRootCertificates(pem: text), blocks: blocks)
        } catch {
            checkError(error, role: role, text: text)
        }
        return
    }
    do throws(CertificateError) {
        // No minimum asked: the legacy floor (1024 bits) still applies.
        let certificate = try AlipayCertificate(pem: text, role: role, minimumBits: 0)
        checkCertificate(certificate, blocks: blocks, text: text)
        if certificate.publicKey.bitCount < KeyMaterial.minimumBits {
            do throws(CertificateError) {
                _ = try AlipayCertificate(pem: text, role: role)
                Property.violated("a \(certificate.publicKey.bitCount)-bit certificate key loaded at the default minimum")
            } catch {
                checkError(error, role: role, text: text)
            }
        }
    } catch {
        checkError(error, role: role, text: text)
    }
}

func checkCertificate(_ certificate: AlipayCertificate, blocks: Int, text: String) {
    Property.require(isSN(certificate.sn), "a certificate SN that is not 32 lower-case hex digits: '\(certificate.sn)'")
    Property.require(CertificateSN.of(certificate.certificate) == certificate.sn, "CertificateSN.of differs from the loaded SN")
    Property.require(certificate.summary.sn == certificate.sn, "the summary's SN differs from the loaded SN")
    Property.require(certificate.publicKey.bitCount >= KeyMaterial.legacyMinimumBits, "loaded a \(certificate.publicKey.bitCount)-bit certificate key")
    Property.require(
        certificate.intermediates.count == blocks - 1, "\(blocks) certificate blocks, yet \(certificate.intermediates.count) intermediates")
    Property.require(certificate.pem == text, "the certificate keeps another text than it was read from")
    if chainProblem(certificate) == nil {
        Property.require(issued.contains(Issued(certificate)), "a certificate the fixture CAs never issued chains to the fixture roots: \(certificate.sn)")
    }
}

func checkRoots(_ roots: AlipayRootCertificates, blocks: Int) {
    let groups = roots.sn.split(separator: "_", omittingEmptySubsequences: false)
    Property.require(!groups.isEmpty && groups.allSatisfy { isSN($0) }, "a root SN that is not groups of 32 hex digits joined by '_': '\(roots.sn)'")
    Property.require(roots.skipped >= 0, "\(roots.skipped) roots skipped")
    Property.require(
        groups.count == blocks - roots.skipped, "\(blocks) certificate blocks, \(roots.skipped) skipped, yet \(groups.count) groups in the root SN")
    // Every RSA-signed root is loaded and counted; the others are kept, uncounted, when X509 can load them.
    let summaries = roots.summaries
    let counted = summaries.compactMap(\.sn)
    Property.require(summaries.count == roots.certificates.count, "\(summaries.count) summaries of \(roots.certificates.count) roots")
    Property.require(counted == groups.map(String.init), "the root SN is not the SNs of the counted roots in file order: \(counted)")
    Property.require(
        summaries.count - counted.count <= roots.skipped, "\(summaries.count - counted.count) uncounted roots loaded, \(roots.skipped) skipped")
}

func checkError(_ error: CertificateError, role: CertificateRole, text: String) {
    Property.require(error.role == role, "a CertificateError for \(role.rawValue) names \(error.role.rawValue)")
    let echo = echoedMaterial(in: error.description, text: text) { changed in
        do throws(CertificateError) {
            if role == .rootCertificate { _ = try AlipayRootCertificates(pem: changed) } else { _ = try AlipayCertificate(pem: changed, role: role, minimumBits: 0) }
            return nil
        } catch {
            return error.description
        }
    }
    Property.require(echo == nil, "a CertificateError repeats the input (and follows it when it changes): \(echo ?? "")")
}

/// A fixture certificate with `serial` as its serial number loads, and its SN hashes the reference decimal.
func checkSerial(_ serial: ArraySlice<UInt8>) {
    let decimal = referenceDecimal(serial)
    if serial.count <= 16 {
        let value = serial.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        Property.require(String(value) == decimal, "the two reference decimals differ: \(value) and \(decimal)")
    }
    guard let certificate = serialTemplate.certificate(serial: serial) else {
        Property.violated("the fixture certificate with serial \(decimal) does not load")
    }
    let expected = hexMD5(certificate.issuer + decimal)
    Property.require(certificate.sn == expected, "serial \(decimal) (\(serial.count) bytes): SN \(certificate.sn), expected \(expected)")
}

/// Whether `sn` is 32 lower-case hex digits.
func isSN(_ sn: some StringProtocol) -> Bool {
    sn.utf8.count == 32 && sn.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
}

/// An unsigned big-endian number in decimal, by multiplying base-10⁹ limbs (not the division CertificateSN uses).
func referenceDecimal(_ bytes: ArraySlice<UInt8>) -> String {
    let base: UInt64 = 1_000_000_000
    var limbs: [UInt64] = [0]  // least significant first
    for byte in bytes {
        var carry = UInt64(byte)
        for index in limbs.indices {
            let value = limbs[index] * 256 + carry
            limbs[index] = value % base
            carry = value / base
        }
        while carry > 0 {
            limbs.append(carry % base)
            carry /= base
        }
    }
    var text = String(limbs.last!)
    for limb in limbs.dropLast().reversed() {
        let digits = String(limb)
        text += String(repeating: "0", count: 9 - digits.count) + digits
    }
    return text
}

func hexMD5(_ text: String) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    for byte in Insecure.MD5.hash(data: Array(text.utf8)) {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: hex, as: UTF8.self)
}

/// The message, the echoed run replaced, when it carries the input's material; `reload` gives the message for a
/// changed text (nil: it loads).
///
/// A run of 24 base64 characters of the message that is also in the text (whitespace removed, so a body broken into
/// lines is one run) is a suspect; the text is loaded again with every occurrence of the suspect changed, each
/// character to the next of its class (A→B, z→a, 9→0, + and / swapped), and the message is an echo when it then
/// carries the changed run. A library's own words stay put (or the message changes altogether): not an echo.
func echoedMaterial(in message: String, text: String, reload: (String) -> String?) -> String? {
    let window = 24
    let runs = base64Runs(message).filter { $0.count >= window }
    guard !runs.isEmpty else { return nil }
    let scalars = Array(text.unicodeScalars)
    let kept = scalars.indices.filter { !scalars[$0].properties.isWhitespace }  // material position → text position
    let material = kept.map { scalars[$0] }
    // The first suspect window of each run, a few runs at most: one second load each.
    let suspects = runs.lazy.compactMap { run in
        (0...(run.count - window)).lazy.map { Array(run[$0..<($0 + window)]) }.map { ($0, offsets(of: $0, in: material)) }.first { !$0.1.isEmpty }
    }.prefix(4)
    for (suspect, occurrences) in suspects {
        var changed = scalars
        for offset in Set(occurrences.flatMap { $0..<($0 + window) }) { changed[kept[offset]] = next(scalars[kept[offset]]) }
        let followed = String(String.UnicodeScalarView(suspect.map(next)))
        guard let second = reload(String(String.UnicodeScalarView(changed))), second.contains(followed), !message.contains(followed) else { continue }
        // The report shows the message with the run replaced, so a crash log carries no material either.
        let redacted = message.replacingOccurrences(of: String(String.UnicodeScalarView(suspect)), with: "<\(window) characters of the input>")
        return String(redacted.prefix(400))
    }
    return nil
}

/// The maximal runs of base64 characters in `text`.
func base64Runs(_ text: String) -> [[Unicode.Scalar]] {
    var runs: [[Unicode.Scalar]] = []
    var run: [Unicode.Scalar] = []
    for scalar in text.unicodeScalars {
        if isBase64(scalar) {
            run.append(scalar)
        } else if !run.isEmpty {
            runs.append(run)
            run = []
        }
    }
    if !run.isEmpty { runs.append(run) }
    return runs
}

func isBase64(_ scalar: Unicode.Scalar) -> Bool {
    ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "+" || scalar == "/" || scalar == "="
}

/// The next character of the same class: A→B … Z→A, a→b … z→a, 0→1 … 9→0, + ↔ /; anything else stays.
func next(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
    func rotate(_ first: Unicode.Scalar, _ count: UInt32) -> Unicode.Scalar {
        Unicode.Scalar((scalar.value - first.value + 1) % count + first.value)!
    }
    switch scalar {
    case "A"..."Z": return rotate("A", 26)
    case "a"..."z": return rotate("a", 26)
    case "0"..."9": return rotate("0", 10)
    case "+": return "/"
    case "/": return "+"
    default: return scalar
    }
}

/// Where `needle` starts in `haystack`, every time (overlapping too).
func offsets(of needle: [Unicode.Scalar], in haystack: [Unicode.Scalar]) -> [Int] {
    guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
    return (0...(haystack.count - needle.count)).filter { start in
        haystack[start] == needle[0] && !zip(haystack[start...], needle).contains { $0 != $1 }
    }
}

/// Runs the async chain check to its end (the fuzz callback is synchronous; the check runs on the global executor).
func chainProblem(_ certificate: AlipayCertificate) -> String? {
    final class Box: @unchecked Sendable { var problem: String?? }
    let result = Box()
    let done = DispatchSemaphore(value: 0)
    let roots = fixtureRoots()
    Task {
        result.problem = await roots.chainProblem(certificate, at: validationTime)
        done.signal()
    }
    done.wait()
    guard let problem = result.problem else { Property.violated("the chain check did not finish") }
    return problem
}

/// Where `needle` first occurs in `haystack` (an index of `haystack`), byte by byte.
func find(_ needle: ArraySlice<UInt8>, in haystack: ArraySlice<UInt8>) -> Int? {
    guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
    return haystack.withUnsafeBufferPointer { hay in
        needle.withUnsafeBufferPointer { pin in
            let first = pin[0]
            var index = 0
            while index <= hay.count - pin.count {
                if hay[index] == first, memcmp(hay.baseAddress! + index, pin.baseAddress!, pin.count) == 0 { return haystack.startIndex + index }
                index += 1
            }
            return nil
        }
    }
}

/// PEM blocks found byte by byte, as OpenSSL and the SDKs read a `.crt` file: the reference for block counts. Byte by
/// byte is the point: a search by Character or composed character sequence misses a BEGIN line followed by a
/// combining mark.
enum PEMBlocks {
    static let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
    static let end = Array("-----END CERTIFICATE-----".utf8)

    /// How many blocks a reader finds in the text's bytes: a BEGIN line, the next END line, then the next BEGIN line
    /// after that END (a BEGIN fused into the END line before it, `-----END CERTIFICATE---------BEGIN…`, is not one).
    static func count(_ text: String) -> Int {
        let bytes = Array(text.utf8)
        var count = 0
        var rest = bytes[...]
        while let open = find(begin[...], in: rest) {
            count += 1
            guard let close = find(end[...], in: rest[(open + begin.count)...]) else { break }  // refused anyway
            rest = rest[(close + end.count)...]
        }
        return count
    }

    /// The DER of each well-formed block (for the fixtures, which are).
    static func split(_ text: String) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var rest = Array(text.utf8)[...]
        while let open = find(begin[...], in: rest), let close = find(end[...], in: rest[(open + begin.count)...]) {
            let body = rest[(open + begin.count)..<close].filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            if let der = Data(base64Encoded: Data(body)) { blocks.append([UInt8](der)) }
            rest = rest[(close + end.count)...]
        }
        return blocks
    }

    /// `der` as one PEM block, 64 base64 characters a line.
    static func wrap(_ der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(base64)\n-----END CERTIFICATE-----\n"
    }
}

/// A DER certificate cut around the serial number of its TBSCertificate, to put any serial in its place.
///
/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version, INTEGER serialNumber, … }, … }: only the
/// lengths of the two SEQUENCEs change. The signature no longer matches, which loading does not check.
struct SerialTemplate {
    let beforeSerial: ArraySlice<UInt8>  // the version, inside the TBSCertificate
    let afterSerial: ArraySlice<UInt8>  // the rest of the TBSCertificate
    let afterTBS: ArraySlice<UInt8>  // signatureAlgorithm and signature

    init?(_ der: [UInt8]) {
        guard let outer = DERElement(der, at: 0), outer.tag == 0x30, let tbs = DERElement(der, at: outer.content.lowerBound), tbs.tag == 0x30,
            let version = DERElement(der, at: tbs.content.lowerBound), version.tag == 0xA0,
            let serial = DERElement(der, at: version.content.upperBound), serial.tag == 0x02
        else { return nil }
        beforeSerial = der[tbs.content.lowerBound..<version.content.upperBound]
        afterSerial = der[serial.content.upperBound..<tbs.content.upperBound]
        afterTBS = der[tbs.content.upperBound..<outer.content.upperBound]
    }

    /// The certificate with `serial` (unsigned big-endian) as a minimal positive INTEGER, loaded by AlipayKit.
    func certificate(serial: ArraySlice<UInt8>) -> AlipayCertificate? {
        var integer = Array(serial.drop { $0 == 0 })
        if integer.first.map({ $0 & 0x80 != 0 }) ?? true { integer.insert(0, at: 0) }
        let tbs = DERElement.encode(tag: 0x30, beforeSerial + DERElement.encode(tag: 0x02, integer[...]) + afterSerial)
        let der = DERElement.encode(tag: 0x30, tbs[...] + afterTBS)
        return try? AlipayCertificate(pem: PEMBlocks.wrap(der), role: .appCertificate, minimumBits: 0)
    }
}

/// One DER tag-length-value: enough to find the serial number (definite lengths up to 3 bytes).
struct DERElement {
    let tag: UInt8
    let content: Range<Int>

    init?(_ der: [UInt8], at start: Int) {
        guard start + 2 <= der.count else { return nil }
        var index = start + 2
        var length = Int(der[start + 1])
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard (1...3).contains(count), index + count <= der.count else { return nil }
            length = der[index..<(index + count)].reduce(0) { $0 << 8 | Int($1) }
            index += count
        }
        guard index + length <= der.count else { return nil }
        tag = der[start]
        content = index..<(index + length)
    }

    static func encode(tag: UInt8, _ content: ArraySlice<UInt8>) -> [UInt8] {
        let count = content.count
        let length: [UInt8] =
            count < 0x80 ? [UInt8(count)]
            : count <= 0xFF ? [0x81, UInt8(count)]
            : count <= 0xFFFF ? [0x82, UInt8(count >> 8), UInt8(count & 0xFF)]
            : [0x83, UInt8(count >> 16), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        return [tag] + length + content
    }
}
