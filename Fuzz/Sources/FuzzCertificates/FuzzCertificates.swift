import AlipayKit
import Crypto
import Dispatch
import Foundation
import FuzzSupport

// Input: the contents of a certificate file (alipay.appCertFile, alipay.certFile, alipay.rootCertFile); the same bytes
// as the DER of one certificate, wrapped into a PEM block; and its first 20 bytes as the serial number of a fixture
// certificate.
//
// Properties:
// - AlipayCertificate: an accepted file has an SN of 32 lower-case hex digits, the SN CertificateSN.of gives its
//   certificate, an RSA key of at least 1024 bits (asked for no minimum: the legacy floor holds anyway; one under 2048
//   bits is refused at the default minimum), and one intermediate per certificate block after the first.
// - A certificate that chains to the fixture roots (chainProblem nil) is one the fixture CAs issued: its SN, subject and
//   key are those of a certificate in the fixture files (the fuzzer cannot forge a CA's RSA signature).
// - AlipayRootCertificates: an accepted file has an SN of one or more groups of 32 lower-case hex digits joined by `_`,
//   as many groups as the file has certificate blocks (`-----BEGIN CERTIFICATE-----`, counted byte by byte) less the
//   skipped ones: the SNs of the roots its summaries count, in file order (at most `skipped` others loaded uncounted).
// - A CertificateError names the role it was asked for and never repeats the input's material: no run of 24 base64
//   characters of the input (whitespace removed) appears in the message.
// - CertificateSN: a fixture certificate with any serial number (1–20 bytes, as a positive DER INTEGER) loads, and its SN
//   is the MD5 of its issuer and the serial in decimal as an independent reference computes it (UInt128 up to 16 bytes,
//   base-10⁹ limbs for any length: the two agree).

/// The fixture root file every accepted certificate is checked against.
let fixtureRootFile = Fixtures.certificateFile("alipayRootCert.crt")

/// The fixture roots, loaded for each check: a loaded `Certificate` kept in a global looks leaked to LeakSanitizer
/// (X509 holds its key and signature in multi-payload enums, whose spare bits tag the pointers, so the scan misses them).
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
        checkFile(text, material: compact(text), role: .alipayCertificate)
        checkFile(text, material: compact(text), role: .rootCertificate)
    }
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
        let material = compact(text)
        checkFile(text, material: material, role: bytes.count % 2 == 0 ? .alipayCertificate : .appCertificate)
        checkFile(text, material: material, role: .rootCertificate)
    }
    let base64 = Data(bytes).base64EncodedString()
    let pem = PEMBlocks.wrap(bytes)
    checkFile(pem, material: base64, role: .appCertificate)
    checkFile(pem, material: base64, role: .rootCertificate)
    checkSerial(bytes.prefix(20))
    return 0
}

/// Loads `text` as `role` asks (a certificate file, or a root file for `.rootCertificate`) and checks what came out.
func checkFile(_ text: String, material: String, role: CertificateRole) {
    let blocks = PEMBlocks.count(text)
    if role == .rootCertificate {
        do throws(CertificateError) {
            checkRoots(try AlipayRootCertificates(pem: text), blocks: blocks)
        } catch {
            checkError(error, role: role, material: material)
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
                checkError(error, role: role, material: material)
            }
        }
    } catch {
        checkError(error, role: role, material: material)
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

func checkError(_ error: CertificateError, role: CertificateRole, material: String) {
    Property.require(error.role == role, "a CertificateError for \(role.rawValue) names \(error.role.rawValue)")
    requireNoMaterial(in: error.description, material: material)
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

/// The input's material: the text without whitespace, so a base64 body broken into lines is one run.
func compact(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace }))
}

/// A message must not carry the input's material: no run of 24 base64 characters that is also in `material`.
func requireNoMaterial(in message: String, material: String) {
    let window = 24
    let materialBytes = Array(material.utf8)
    var redacted = ""
    var leaked = false
    var run: [Unicode.Scalar] = []
    for scalar in message.unicodeScalars + [" "] {
        if ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "+" || scalar == "/" || scalar == "=" {
            run.append(scalar)
            continue
        }
        var text = String(String.UnicodeScalarView(run))
        if run.count >= window {
            let utf8 = Array(text.utf8)  // ASCII: one byte per scalar
            let echoed = (0...(utf8.count - window)).contains { materialBytes.firstRange(of: utf8[$0..<($0 + window)]) != nil }
            if echoed {
                leaked = true
                text = "<\(run.count) characters of the input>"
            }
        }
        redacted += text
        redacted.unicodeScalars.append(scalar)
        run = []
    }
    // The report shows the message with every such run replaced.
    Property.require(!leaked, "a CertificateError repeats the input: \(redacted.prefix(400))")
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

/// PEM blocks found byte by byte, as OpenSSL and the SDKs read a `.crt` file: the reference for block counts.
enum PEMBlocks {
    static let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
    static let end = Array("-----END CERTIFICATE-----".utf8)

    /// How many times the BEGIN line occurs in the text's bytes.
    static func count(_ text: String) -> Int {
        let bytes = Array(text.utf8)
        var count = 0
        var rest = bytes[...]
        while let range = rest.firstRange(of: begin) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }

    /// The DER of each well-formed block (for the fixtures, which are).
    static func split(_ text: String) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var rest = Array(text.utf8)[...]
        while let open = rest.firstRange(of: begin), let close = rest[open.upperBound...].firstRange(of: end) {
            let body = rest[open.upperBound..<close.lowerBound].filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            if let der = Data(base64Encoded: Data(body)) { blocks.append([UInt8](der)) }
            rest = rest[close.upperBound...]
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
