import Foundation
import Testing
import X509

@testable import AlipayKit

/// `app_cert_sn` / `alipay_cert_sn` against Alipay's Java SDK's rule as the JDK itself computes it
/// (scripts/vectors/make_java_sn_vectors.py with scripts/vectors/CertSN.java), on the issuer names where renderings
/// could differ: Python's SDK hard-codes `CN=…,OU=…,O=…,C=…`, Java renders RFC 2253.
@Suite("Certificate SNs against the JDK")
struct JavaCertificateSNTests {
    /// Fixtures/certificates/java_vectors.json: what the JDK's `X509Certificate` gives, as Alipay's Java SDK reads it.
    struct JavaVector: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let issuer: String
        let serialDecimal: String
        let sn: String
        let rsaSigned: Bool
        enum CodingKeys: String, CodingKey { case file, issuer, serialDecimal = "serial_decimal", sn, rsaSigned = "rsa_signed" }
        var testDescription: String { file }
    }

    static let javaVectors: [JavaVector] = {
        struct File: Decodable { let files: [JavaVector] }
        return (try? JSONDecoder().decode(File.self, from: Fixture.data("certificates/java_vectors.json")).files) ?? []
    }()

    @Test("SNs where the SDKs' renderings could differ (no OU, escaped characters, Chinese, OID-typed attributes, multi-valued RDNs, long serials) equal the JDK's", arguments: javaVectors)
    func javaSNs(vector: JavaVector) throws {
        let certificate = try X509.Certificate(pemEncoded: Fixture.text("certificates/java/\(vector.file)"))
        #expect(CertificateSN.issuerName(certificate.issuer) == vector.issuer)
        #expect(CertificateSN.decimal(certificate.serialNumber.bytes) == vector.serialDecimal)
        #expect(CertificateSN.of(certificate) == vector.sn)
    }

    @Test("the Java vectors are all there")
    func javaVectorsLoaded() {
        #expect(Self.javaVectors.count == 12)
    }

}
