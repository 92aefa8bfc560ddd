import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Which certificate a ``CertificateError`` is about, in the words of the files the Alipay console hands out.
public enum CertificateRole: String, Sendable {
    /// `appCertPublicKey_<appId>.crt`: the app's public key certificate, issued by Alipay (`alipay.appCertFile`).
    case appCertificate = "app public key certificate"
    /// `alipayCertPublicKey_RSA2.crt`: Alipay's public key certificate and its issuer (`alipay.certFile`).
    case alipayCertificate = "Alipay public key certificate"
    /// `alipayRootCert.crt`: Alipay's root certificates (`alipay.rootCertFile`).
    case rootCertificate = "Alipay root certificate"
}

/// A certificate that cannot be used: names the file's role and what was found.
public struct CertificateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The certificate this error is about.
    public let role: CertificateRole
    /// What is wrong with it.
    public let problem: String

    /// Creates an error about `role`.
    public init(role: CertificateRole, problem: String) {
        self.role = role
        self.problem = problem
    }

    /// "<role>: <problem>".
    public var description: String { "\(role.rawValue): \(problem)" }
}

/// Alipay's certificate serial numbers ("SN") and the issuer rendering they hash.
///
/// A certificate's SN is the lowercase hex MD5 of its issuer's distinguished name as Java renders it
/// (`X500Principal.getName()`, RFC 2253: the last RDN first, `type=value` joined by `,`, no spaces, RFC 2253
/// escaping) followed by the serial number in decimal. Alipay's Java and Python SDKs compute the same value
/// (docs/alipay-protocol.md, "Certificate mode"; vectors in Tests/AlipayKitTests/Fixtures/certificates).
public enum CertificateSN {
    /// Whether `sn` has an SN's shape: 32 lowercase hex digits (an MD5 in hex). What an answer or a notification names
    /// is checked with this before anything is fetched for it or logged.
    public static func isWellFormed(_ sn: String) -> Bool {
        sn.utf8.count == 32 && sn.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The SN of one certificate.
    public static func of(_ certificate: Certificate) -> String {
        hexMD5(issuerName(certificate.issuer) + decimal(certificate.serialNumber.bytes))
    }

    /// The issuer (or any) name as RFC 2253 renders it: `CN=…,OU=…,O=…,C=…` for Alipay's certificates.
    public static func issuerName(_ name: DistinguishedName) -> String {
        name.reversed().map { rdn in
            rdn.map { attribute in
                // RFC 2253 §2.3–2.4: a type without a keyword is its dotted OID and its value '#' and the hex of its DER;
                // so is a value that is not a string.
                if let keyword = keywords[attribute.type], let text = String(attribute.value) { return "\(keyword)=\(javaEscaped(text))" }
                var serializer = DER.Serializer()
                let hex = (try? serializer.serialize(ASN1Any(attribute.value))).map { serializer.serializedBytes.hexString } ?? ""
                return "\(keywords[attribute.type] ?? "\(attribute.type)")=#\(hex)"
            }.joined(separator: "+")
        }.joined(separator: ",")
    }

    /// A string value escaped as the JDK's RFC 2253 rendering does (not quite RFC 4514's): a backslash before each of
    /// `, = + < > # ; " \` wherever it stands, and before each space or carriage return of a leading or trailing run
    /// of them; NUL as `\00`; anything else as it is (checked against the JDK: Fixtures/certificates/java_vectors.json).
    static func javaEscaped(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        let blank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\r" }
        let lead = scalars.prefix(while: blank).count
        let trail = lead == scalars.count ? 0 : scalars.reversed().prefix(while: blank).count
        var out = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            if scalar == "\0" {
                out.append(contentsOf: "\\00".unicodeScalars)
                continue
            }
            if ",=+<>#;\"\\".unicodeScalars.contains(scalar) || index < lead || index >= scalars.count - trail { out.append("\\") }
            out.append(scalar)
        }
        return String(out)
    }

    /// The keywords RFC 2253 §2.3 defines (and Java's `getName()` uses); everything else is rendered by OID.
    static let keywords: [ASN1ObjectIdentifier: String] = [
        .RDNAttributeType.commonName: "CN", .RDNAttributeType.localityName: "L",
        .RDNAttributeType.stateOrProvinceName: "ST", .RDNAttributeType.organizationName: "O",
        .RDNAttributeType.organizationalUnitName: "OU", .RDNAttributeType.countryName: "C",
        .RDNAttributeType.streetAddress: "STREET", .RDNAttributeType.domainComponent: "DC", [0, 9, 2342, 19_200_300, 100, 1, 1]: "UID",
    ]

    /// An unsigned big-endian integer in decimal (a serial number's bytes are a non-negative DER INTEGER).
    static func decimal(_ bytes: ArraySlice<UInt8>) -> String {
        var number = Array(bytes.drop { $0 == 0 })
        guard !number.isEmpty else { return "0" }
        var digits: [UInt8] = []
        while !number.isEmpty {
            var remainder = 0
            var quotient: [UInt8] = []
            quotient.reserveCapacity(number.count)
            for byte in number {
                let value = remainder << 8 | Int(byte)
                let digit = value / 10
                remainder = value % 10
                if !quotient.isEmpty || digit != 0 { quotient.append(UInt8(digit)) }
            }
            digits.append(UInt8(remainder) + UInt8(ascii: "0"))
            number = quotient
        }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    static func hexMD5(_ text: String) -> String {
        Insecure.MD5.hash(data: Array(text.utf8)).hexString
    }

    /// Whether a DER certificate is signed with an RSA algorithm (OID 1.2.840.113549.1.1.*), read from its outer
    /// `signatureAlgorithm` with swift-asn1 so that certificates X509 cannot load (Alipay's SM2 root) are still
    /// recognised and skipped; nil when the bytes are not a certificate at all.
    static func isRSASigned(der: [UInt8]) -> Bool? {
        guard let node = try? DER.parse(der),
            let oid = try? DER.sequence(node, identifier: .sequence, { nodes -> ASN1ObjectIdentifier in
                guard nodes.next() != nil, let algorithm = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "no signatureAlgorithm") }
                while nodes.next() != nil {}
                return try DER.sequence(algorithm, identifier: .sequence) { inner in
                    let oid = try ASN1ObjectIdentifier(derEncoded: &inner)
                    while inner.next() != nil {}
                    return oid
                }
            })
        else { return nil }
        return oid.description.hasPrefix("1.2.840.113549.1.1.")
    }
}

extension Sequence<UInt8> {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The PEM blocks of a certificate file, in order, as DER.
enum CertificatePEM {
    /// Searched for in the UTF-8 bytes, never with `String.range(of:)`: that compares Characters, so a combining mark
    /// right after the dashes hid a whole block from it (found by FuzzCertificates; a regression test keeps it).
    static let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
    static let end = Array("-----END CERTIFICATE-----".utf8)

    static func blocks(_ text: String, role: CertificateRole) throws(CertificateError) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        var blocks: [[UInt8]] = []
        var position = 0
        while let beginAt = find(begin, in: bytes, from: position) {
            let bodyStart = beginAt + begin.count
            guard let endAt = find(end, in: bytes, from: bodyStart) else {
                throw CertificateError(role: role, problem: "malformed PEM: 'BEGIN CERTIFICATE' without a matching 'END CERTIFICATE'")
            }
            let body = bytes[bodyStart..<endAt].filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            guard let der = Data(base64Encoded: Data(body)), !der.isEmpty else {
                throw CertificateError(role: role, problem: "certificate \(blocks.count + 1) of the file is not valid base64")
            }
            blocks.append([UInt8](der))
            position = endAt + end.count
        }
        if blocks.isEmpty {
            let found =
                text.contains("PRIVATE KEY") ? "a private key" : text.contains("PUBLIC KEY") ? "a public key (key mode: alipay.publicKeyFile)"
                : text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "an empty file" : "no 'BEGIN CERTIFICATE' block"
            throw CertificateError(role: role, problem: "found \(found) where a certificate file (.crt, PEM) belongs")
        }
        return blocks
    }

    /// The index of the first occurrence of `pattern` in `bytes` at or after `start`.
    static func find(_ pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard pattern.count <= bytes.count, start <= bytes.count - pattern.count else { return nil }
        var index = start
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0], bytes[index..<(index + pattern.count)].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }

    static func read(_ path: String, role: CertificateRole) throws(CertificateError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read \(path) (permissions or not UTF-8 text)" : "no file at \(path)"
            throw CertificateError(role: role, problem: reason)
        }
    }

    static func certificate(_ der: [UInt8], index: Int, role: CertificateRole) throws(CertificateError) -> Certificate {
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw CertificateError(role: role, problem: "certificate \(index + 1) of the file does not parse as X.509 (\(error))")
        }
    }
}

/// A public key certificate as the Alipay console hands it out: the certificate first, then (for Alipay's) the
/// certificate that issued it.
public struct AlipayCertificate: Sendable {
    /// The certificate itself: the file's first.
    public let certificate: Certificate
    /// The certificates after the first (Alipay's file carries its issuing CA): intermediates for the chain check.
    public let intermediates: [Certificate]
    /// Its SN (`app_cert_sn` for the app's, `alipay_cert_sn` for Alipay's).
    public let sn: String
    /// Its RSA public key.
    public let publicKey: RSAPublicKey
    /// The PEM text it was read from.
    public let pem: String

    /// Reads a certificate file's text; the first certificate must carry an RSA key of at least `minimumBits`.
    public init(pem: String, role: CertificateRole, minimumBits: Int = KeyMaterial.minimumBits) throws(CertificateError) {
        let blocks = try CertificatePEM.blocks(pem, role: role)
        let first = try CertificatePEM.certificate(blocks[0], index: 0, role: role)
        guard let key = _RSA.Signing.PublicKey(first.publicKey) else {
            throw CertificateError(role: role, problem: "the certificate's key is not an RSA key (\(first.publicKey))")
        }
        guard key.keySizeInBits >= max(minimumBits, KeyMaterial.legacyMinimumBits) else {
            throw CertificateError(role: role, problem: "the certificate carries a \(key.keySizeInBits)-bit RSA key; at least \(minimumBits) bits are required")
        }
        var intermediates: [Certificate] = []
        for (index, der) in blocks.enumerated().dropFirst() {
            intermediates.append(try CertificatePEM.certificate(der, index: index, role: role))
        }
        self.certificate = first
        self.intermediates = intermediates
        self.sn = CertificateSN.of(first)
        self.publicKey = RSAPublicKey(key: key)
        self.pem = pem
    }

    /// Reads the certificate file at `path`.
    public init(contentsOfFile path: String, role: CertificateRole, minimumBits: Int = KeyMaterial.minimumBits) throws(CertificateError) {
        try self.init(pem: CertificatePEM.read(path, role: role), role: role, minimumBits: minimumBits)
    }

    /// The subject as RFC 2253 renders it.
    public var subject: String { CertificateSN.issuerName(certificate.subject) }
    /// Whether the certificate says it is a CA (basic constraints): never one to verify answers with.
    public var isAuthority: Bool {
        guard let constraints = try? certificate.extensions.basicConstraints else { return false }
        if case .isCertificateAuthority = constraints { return true }
        return false
    }
    /// The issuer as RFC 2253 renders it (what the SN hashes).
    public var issuer: String { CertificateSN.issuerName(certificate.issuer) }
    /// Start of validity.
    public var notValidBefore: Date { certificate.notValidBefore }
    /// End of validity.
    public var notValidAfter: Date { certificate.notValidAfter }
}

/// Alipay's root certificate file: several roots, some of them RSA-signed, some not (SM2, ECDSA).
public struct AlipayRootCertificates: Sendable {
    /// The roots X509 can load (every RSA-signed one, and any other it understands): the trust anchors of a new
    /// Alipay certificate.
    public let certificates: [Certificate]
    /// `alipay_root_cert_sn`: the SNs of the RSA-signed roots, in file order, joined by `_`.
    public let sn: String
    /// How many certificates of the file were left out of the SN (not RSA-signed).
    public let skipped: Int
    /// For each of ``certificates``: whether it is RSA-signed, so part of the SN.
    let rsaSigned: [Bool]

    /// Reads a root certificate file's text.
    public init(pem: String) throws(CertificateError) {
        let role = CertificateRole.rootCertificate
        var certificates: [Certificate] = []
        var rsaSigned: [Bool] = []
        var sns: [String] = []
        var skipped = 0
        for (index, der) in try CertificatePEM.blocks(pem, role: role).enumerated() {
            guard let rsa = CertificateSN.isRSASigned(der: der) else {
                throw CertificateError(role: role, problem: "certificate \(index + 1) of the file is not an X.509 certificate")
            }
            if rsa {
                let certificate = try CertificatePEM.certificate(der, index: index, role: role)
                certificates.append(certificate)
                rsaSigned.append(true)
                sns.append(CertificateSN.of(certificate))
            } else {
                skipped += 1
                if let certificate = try? Certificate(derEncoded: der) {
                    certificates.append(certificate)
                    rsaSigned.append(false)
                }
            }
        }
        guard !sns.isEmpty else {
            throw CertificateError(role: role, problem: "no RSA-signed certificate in the file, so there is no alipay_root_cert_sn")
        }
        self.certificates = certificates
        self.sn = sns.joined(separator: "_")
        self.skipped = skipped
        self.rsaSigned = rsaSigned
    }

    /// Reads the root certificate file at `path`.
    public init(contentsOfFile path: String) throws(CertificateError) {
        try self.init(pem: CertificatePEM.read(path, role: .rootCertificate))
    }

    /// nil when `certificate` chains, through its own intermediates, to one of these roots and is valid at `time`;
    /// otherwise why not.
    public func chainProblem(_ certificate: AlipayCertificate, at time: Date = Date()) async -> String? {
        var verifier = Verifier(rootCertificates: CertificateStore(certificates)) { RFC5280Policy(validationTime: time) }
        let result = await verifier.validate(leaf: certificate.certificate, intermediates: CertificateStore(certificate.intermediates))
        switch result {
        case .validCertificate: return nil
        case .couldNotValidate(let failures):
            let reasons = failures.prefix(3).map { "\($0.policyFailureReason)" }
            return reasons.isEmpty ? "no chain to the configured Alipay root certificates" : reasons.joined(separator: "; ")
        }
    }
}

/// Certificate mode (公钥证书模式): the three files the Alipay console hands out, read and checked together.
public struct CertificateMode: Sendable {
    /// The app's certificate: `app_cert_sn` of every request.
    public let appCertificate: AlipayCertificate
    /// Alipay's certificate: verifies responses and notifications.
    public let alipayCertificate: AlipayCertificate
    /// Alipay's roots: `alipay_root_cert_sn` of every request, and the anchors of a rotated Alipay certificate.
    public let roots: AlipayRootCertificates

    /// Creates the mode from read files.
    public init(appCertificate: AlipayCertificate, alipayCertificate: AlipayCertificate, roots: AlipayRootCertificates) {
        self.appCertificate = appCertificate
        self.alipayCertificate = alipayCertificate
        self.roots = roots
    }

    /// `app_cert_sn`.
    public var appCertSN: String { appCertificate.sn }
    /// `alipay_root_cert_sn`.
    public var rootCertSN: String { roots.sn }
}

/// What an operator reads about one certificate: names, SN and validity.
public struct CertificateSummary: Sendable {
    /// The subject, RFC 2253.
    public let subject: String
    /// The issuer, RFC 2253 (what the SN hashes).
    public let issuer: String
    /// Its SN; nil for a root left out of `alipay_root_cert_sn` (not RSA-signed).
    public let sn: String?
    /// Start of validity.
    public let notValidBefore: Date
    /// End of validity.
    public let notValidAfter: Date

    init(_ certificate: Certificate, counted: Bool = true) {
        subject = CertificateSN.issuerName(certificate.subject)
        issuer = CertificateSN.issuerName(certificate.issuer)
        sn = counted ? CertificateSN.of(certificate) : nil
        notValidBefore = certificate.notValidBefore
        notValidAfter = certificate.notValidAfter
    }
}

extension AlipayCertificate {
    /// Names, SN and validity of the certificate itself.
    public var summary: CertificateSummary { CertificateSummary(certificate) }
}

extension AlipayRootCertificates {
    /// Names, SN and validity of each root X509 could load, in file order.
    public var summaries: [CertificateSummary] { zip(certificates, rsaSigned).map { CertificateSummary($0, counted: $1) } }
}
