import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Issues certificates shaped like the ones the Alipay console hands out — a root bundle with an RSA and an ECDSA
/// root, an issuing CA, Alipay's certificate and the app's — for alipay-sandbox and tests. Nothing here is used
/// against Alipay.
public enum CertificateIssuing {
    /// The files of a certificate-mode set, PEM text named as the console names them.
    public struct Files: Sendable {
        /// `alipayRootCert.crt`: the RSA root, then an ECDSA root (skipped by the root SN), blank-line separated.
        public var rootBundle: String
        /// `alipayCertPublicKey_RSA2.crt`: Alipay's certificate, then the issuing CA's.
        public var alipayCertificate: String
        /// `appCertPublicKey_<appId>.crt`: the app's certificate, then the issuing CA's.
        public var appCertificate: String
        /// The issuing CA's certificate alone (it issues a rotated Alipay certificate later).
        public var caCertificate: String
        /// The issuing CA's private key, PKCS#8 PEM.
        public var caPrivateKey: String
    }

    /// A whole set: roots, issuing CA, Alipay's certificate for `alipayKey`, the app's for `appKey`.
    public static func makeSet(alipayKey: RSAPublicKey, appKey: RSAPublicKey, appId: String, now: Date = Date()) throws -> Files {
        let rootKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let rootName = try name("alipay-sandbox Root CA R1", unit: "Certification Authority")
        let root = try certificate(
            subject: rootName, issuer: rootName, key: Certificate.PublicKey(rootKey.publicKey), signer: Certificate.PrivateKey(rootKey),
            isAuthority: true, from: now, years: 20)
        let ecKey = P256.Signing.PrivateKey()
        let ecName = try name("alipay-sandbox Root CA E1", unit: "Certification Authority")
        let ecRoot = try certificate(
            subject: ecName, issuer: ecName, key: Certificate.PublicKey(ecKey.publicKey), signer: Certificate.PrivateKey(ecKey),
            isAuthority: true, from: now, years: 20, algorithm: .ecdsaWithSHA256)
        let caKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ca = try certificate(
            subject: try name("alipay-sandbox Class 2 CA R1", unit: "Certification Authority"), issuer: rootName,
            key: Certificate.PublicKey(caKey.publicKey), signer: Certificate.PrivateKey(rootKey), isAuthority: true, from: now, years: 10)
        let caPEM = try ca.serializeAsPEM().pemString
        let app = try certificate(
            subject: try name(appId, unit: "Alipay Open Platform"), issuer: ca.subject, key: Certificate.PublicKey(appKey.key),
            signer: Certificate.PrivateKey(caKey), isAuthority: false, from: now, years: 5)
        return Files(
            rootBundle: try root.serializeAsPEM().pemString + "\n\n" + ecRoot.serializeAsPEM().pemString + "\n",
            alipayCertificate: try issueAlipayCertificate(for: alipayKey, caCertificatePEM: caPEM, caPrivateKeyPEM: caKey.pemRepresentation, now: now),
            appCertificate: try app.serializeAsPEM().pemString + "\n" + caPEM + "\n",
            caCertificate: caPEM + "\n",
            caPrivateKey: caKey.pemRepresentation + "\n")
    }

    /// A new Alipay certificate for `key`, issued by the CA: its PEM followed by the CA's (what the console and
    /// `alipay.open.app.alipaycert.download` give).
    public static func issueAlipayCertificate(for key: RSAPublicKey, caCertificatePEM: String, caPrivateKeyPEM: String, now: Date = Date()) throws -> String {
        let ca = try Certificate(pemEncoded: caCertificatePEM)
        let caKey = try _RSA.Signing.PrivateKey(pemRepresentation: caPrivateKeyPEM)
        let leaf = try certificate(
            subject: try name("alipay-sandbox Alipay", unit: "Alipay Open Platform"), issuer: ca.subject, key: Certificate.PublicKey(key.key),
            signer: Certificate.PrivateKey(caKey), isAuthority: false, from: now, years: 5)
        return try leaf.serializeAsPEM().pemString + "\n" + ca.serializeAsPEM().pemString + "\n"
    }

    static func name(_ commonName: String, unit: String) throws -> DistinguishedName {
        try DistinguishedName {
            CountryName("CN")
            OrganizationName("alipay-sandbox")
            OrganizationalUnitName(unit)
            CommonName(commonName)
        }
    }

    static func certificate(
        subject: DistinguishedName, issuer: DistinguishedName, key: Certificate.PublicKey, signer: Certificate.PrivateKey, isAuthority: Bool,
        from now: Date, years: Int, algorithm: Certificate.SignatureAlgorithm = .sha256WithRSAEncryption
    ) throws -> Certificate {
        // A positive serial of 16 random bytes, as CAs issue them (the first bit clear keeps the DER INTEGER positive).
        var serial = (0..<16).map { _ in UInt8.random(in: 0...255) }
        serial[0] &= 0x7F
        serial[0] |= 0x01
        let extensions = try Certificate.Extensions {
            if isAuthority {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            } else {
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            }
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial[...]), publicKey: key,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(years) * 365 * 86_400),
            issuer: issuer, subject: subject, signatureAlgorithm: algorithm, extensions: extensions, issuerPrivateKey: signer)
    }
}
