#!/usr/bin/env python3
"""Writes Tests/AlipayKitTests/Fixtures/certificates/java/: certificates whose issuer names are where renderings
differ (no OU, characters RFC 2253 escapes, Chinese, attribute types without a keyword, multi-valued RDNs, long
serials), and java_vectors.json: their SNs as Alipay's Java SDK computes them (getIssuerX500Principal().getName()
plus the decimal serial, MD5), computed by the JDK itself with scripts/vectors/CertSN.java.

The certificates are made with `cryptography` (EC keys: the SN does not depend on the key); the names and serials
are fixed, so the vectors do not change between runs, only the keys and signatures do. Needs a JDK (11 or later)
and the `cryptography` package:

    python3 scripts/vectors/make_java_sn_vectors.py
"""
import datetime
import json
import os
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "AlipayKitTests", "Fixtures", "certificates")
FOLDER = os.path.join(OUT, "java")
WHEN = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def attribute(oid, value, tag=None):
    return x509.NameAttribute(oid, value, _type=tag) if tag else x509.NameAttribute(oid, value)


def rdns(*groups):
    """A name from relative distinguished names, each a list of attributes (more than one: multi-valued)."""
    return x509.Name([x509.RelativeDistinguishedName(group) for group in groups])


C, O, OU, CN = NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME
# (file, issuer, serial, signed with RSA?)
CASES = [
    ("no_ou.crt", rdns([attribute(C, "CN")], [attribute(O, "Ant Financial")], [attribute(CN, "Issuer Without OU")]), 4660, False),
    ("escaped.crt", rdns([attribute(C, "CN")], [attribute(O, 'a,b+c"d\\e<f>g;h=i')], [attribute(CN, " leading and trailing ")]), 1, False),
    ("hash_first.crt", rdns([attribute(O, "#not hex")], [attribute(CN, "#")]), 255, False),
    ("chinese.crt", rdns([attribute(C, "CN")], [attribute(O, "支付宝（中国）网络技术有限公司")], [attribute(OU, "支付宝认证中心")], [attribute(CN, "根证书")]), 2**64, False),
    ("email.crt", rdns([attribute(C, "CN")], [attribute(CN, "Mail CA")], [attribute(NameOID.EMAIL_ADDRESS, "ca@example.com")]), 123456789, False),
    ("unknown_oid.crt", rdns([attribute(CN, "Odd Types")], [attribute(ObjectIdentifier("1.2.3.4.5"), "value")], [attribute(NameOID.SERIAL_NUMBER, "SN-1")]), 7, False),
    ("multi_valued.crt", rdns([attribute(C, "CN")], [attribute(OU, "Unit"), attribute(CN, "Multi")]), 65536, False),
    ("dc_uid.crt", rdns([attribute(NameOID.DOMAIN_COMPONENT, "com")], [attribute(NameOID.DOMAIN_COMPONENT, "example")], [attribute(NameOID.USER_ID, "u1")], [attribute(NameOID.LOCALITY_NAME, "Hangzhou")], [attribute(NameOID.STATE_OR_PROVINCE_NAME, "Zhejiang")]), 42, False),
    ("hash_and_equals_inside.crt", rdns([attribute(O, "a#b=c#")], [attribute(CN, "x = y")]), 3, False),
    ("whitespace.crt", rdns([attribute(O, "\r lead")], [attribute(OU, "tab\there")], [attribute(CN, "trail \r")]), 5, False),
    ("printable_vs_utf8.crt", rdns([attribute(C, "CN", x509.name._ASN1Type.PrintableString)], [attribute(CN, "Same Text", x509.name._ASN1Type.PrintableString)]), 99, False),
    ("long_serial_rsa.crt", rdns([attribute(C, "CN")], [attribute(O, "Long Serial")], [attribute(OU, "Root")], [attribute(CN, "RSA Signed")]), 2**158 + 12345, True),
]


def main():
    os.makedirs(FOLDER, exist_ok=True)
    files = []
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, issuer, serial, rsa_signed in CASES:
        key = ec.generate_private_key(ec.SECP256R1())
        signer = rsa_key if rsa_signed else key
        certificate = (x509.CertificateBuilder().subject_name(rdns([attribute(CN, "Subject")])).issuer_name(issuer)
                       .public_key(key.public_key()).serial_number(serial).not_valid_before(WHEN)
                       .not_valid_after(WHEN + datetime.timedelta(days=7300)).sign(signer, hashes.SHA256()))
        path = os.path.join(FOLDER, name)
        with open(path, "wb") as out:
            out.write(certificate.public_bytes(serialization.Encoding.PEM))
        files.append(path)
    lines = subprocess.run(["java", os.path.join(HERE, "CertSN.java"), *files], check=True, capture_output=True, text=True).stdout
    vectors = [json.loads(line) for line in lines.splitlines() if line.strip()]
    with open(os.path.join(OUT, "java_vectors.json"), "w", encoding="utf-8") as out:
        json.dump({"generator": "scripts/vectors/make_java_sn_vectors.py (the JDK's X509Certificate, as Alipay's Java SDK reads it)",
                   "files": vectors}, out, ensure_ascii=False, indent=1)
        out.write("\n")
    for vector in vectors:
        print(vector["file"], vector["issuer"], vector["sn"])


if __name__ == "__main__":
    main()
