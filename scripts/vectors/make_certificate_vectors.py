#!/usr/bin/env python3
"""Writes Tests/AlipayKitTests/Fixtures/certificates/: test certificates for "certificate mode" and their SNs.

A certificate's SN is md5_hex("CN=…,OU=…,O=…,C=…" of its issuer + its serial number in decimal); a root SN is
the SNs of the bundle's certificates signed with RSA (OID 1.2.840.113549.1.1.*) joined with "_", in file order.
The certificates are made here with `cryptography` (fresh keys on every run, fixed names and serials, so the SNs
never change; the leaf certificates carry the existing keys/alipay_public.pem and keys/app_public.pem). Every SN
is computed with fzlee's python-alipay-sdk (DCAliPay.get_cert_sn / DCAliPay.get_root_cert_sn, pyOpenSSL
underneath) and again independently with `cryptography` plus a small DER reader for the signature algorithm;
the two must agree. alipay_production_root.crt is Alipay's real, public root bundle (copied from
github.com/go-pay/gopay alipay/cert/cert.go, AlipayRootContent); it is only read here, and its root SN must be
the widely published 687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6.

    python3 -m venv /tmp/vectors && /tmp/vectors/bin/pip install -r scripts/vectors/requirements.txt
    /tmp/vectors/bin/python scripts/vectors/make_certificate_vectors.py
"""
import base64
import datetime
import hashlib
import json
import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

try:
    # python-alipay-sdk and alipay-sdk-python both install alipay/__init__.py; DCAliPay is in the former's.
    from alipay import DCAliPay
except ImportError as error:
    raise SystemExit("python-alipay-sdk's alipay/__init__.py is missing (alipay-sdk-python overwrote it?): "
                     "pip install --force-reinstall --no-deps python-alipay-sdk") from error

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "AlipayKitTests", "Fixtures")
KEYS = os.path.join(FIXTURES, "keys")
OUT = os.path.join(FIXTURES, "certificates")
PRODUCTION_ROOT = "alipay_production_root.crt"
PRODUCTION_ROOT_SN = "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
RSA_SIGNATURE_PREFIX = "1.2.840.113549.1.1."
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2046, 1, 1, tzinfo=datetime.timezone.utc)
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.S)


def name(cn, ou, o="alipay-notify tests", c="CN"):
    # Encoded C, O, OU, CN (as Alipay's CAs do), so RFC 2253/4514 rendering reads CN=…,OU=…,O=…,C=….
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, c), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject, public_key, serial, issuer=None, signer=None, algorithm=hashes.SHA256(), ca=False, path_length=None):
    """A certificate for public_key; self-signed when issuer/signer are None (signer is the issuer's private key)."""
    issuer_name, issuer_public = (subject, public_key) if issuer is None else (issuer.subject, issuer.public_key())
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public_key)
               .serial_number(serial).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False))
    if ca:
        usage = dict(digital_signature=False, key_cert_sign=True, crl_sign=True, key_encipherment=False)
    else:
        usage = dict(digital_signature=True, key_cert_sign=False, crl_sign=False, key_encipherment=True)
    builder = builder.add_extension(x509.KeyUsage(content_commitment=not ca, data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False, **usage), critical=True)
    return builder.sign(signer, algorithm)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def der_signature_algorithm(der):
    """The outer signatureAlgorithm OID of a DER certificate, read without an X.509 library (cryptography refuses
    some of Alipay's real roots, e.g. E1's ecdsa-with-SHA384 with explicit NULL parameters)."""
    def header(pos):
        tag, length = der[pos], der[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(der[pos:pos + count], "big")
            pos += count
        return tag, pos, length

    tag, pos, _ = header(0)                 # Certificate SEQUENCE
    assert tag == 0x30
    tag, body, length = header(pos)         # tbsCertificate SEQUENCE: skip it
    assert tag == 0x30
    tag, pos, _ = header(body + length)     # signatureAlgorithm SEQUENCE
    assert tag == 0x30
    tag, pos, length = header(pos)          # algorithm OBJECT IDENTIFIER
    assert tag == 0x06
    raw = der[pos:pos + length]
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first] + arcs[1:])


def independent_issuer(cert):
    parts = []
    for label, oid in (("CN", NameOID.COMMON_NAME), ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
                       ("O", NameOID.ORGANIZATION_NAME), ("C", NameOID.COUNTRY_NAME)):
        values = cert.issuer.get_attributes_for_oid(oid)
        assert len(values) == 1, f"issuer without exactly one {label}: {cert.issuer.rfc4514_string()}"
        parts.append(f"{label}={values[0].value}")
    rendered = ",".join(parts)
    # Alipay's Java SDK hashes getIssuerX500Principal().getName() (RFC 2253, whole DN): the same string here.
    assert rendered == cert.issuer.rfc4514_string(), (rendered, cert.issuer.rfc4514_string())
    return rendered


def independent_sn(cert):
    return hashlib.md5((independent_issuer(cert) + str(cert.serial_number)).encode()).hexdigest()


def blocks(data):
    return PEM_BLOCK.findall(data)


def describe(block):
    """One certificate of a file: its signature algorithm from the DER, and when RSA-signed, its SN (SDK == ours)."""
    body = b"".join(line.strip() for line in block.splitlines() if not line.startswith(b"-----"))
    oid = der_signature_algorithm(base64.b64decode(body))
    try:
        cert = x509.load_pem_x509_certificate(block)
    except ValueError:
        cert = None
    entry = {"signature_algorithm_oid": oid, "rsa_signed": oid.startswith(RSA_SIGNATURE_PREFIX),
             "cryptography_parses": cert is not None}
    if cert is not None:
        assert cert.signature_algorithm_oid.dotted_string == oid
        entry["subject"] = cert.subject.rfc4514_string()
        entry["issuer"] = cert.issuer.rfc4514_string()
        entry["serial_decimal"] = str(cert.serial_number)
        entry["serial_hex"] = format(cert.serial_number, "x")
        if entry["rsa_signed"]:
            entry["sn"] = independent_sn(cert)
            sdk = DCAliPay.get_cert_sn(block.decode())
            assert sdk == entry["sn"], ("python-alipay-sdk and cryptography disagree", sdk, entry["sn"])
    return entry


def verify_signed_by(cert, issuer):
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def load_public(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return serialization.load_pem_public_key(f.read())


root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
root = issue(name("alipay-notify Test Root CA", "Certification Authority"), root_key.public_key(), 0x2A6E0D1F7C3B9E41,
             signer=root_key, ca=True)
ec_root_key = ec.generate_private_key(ec.SECP256R1())
ec_root = issue(name("alipay-notify Test Root CA E1", "Certification Authority"), ec_root_key.public_key(),
                0x3C5D7E9FA1B2C3D4, signer=ec_root_key, ca=True)
g2_root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
g2_root = issue(name("alipay-notify Test Root CA - G2", "Test Trust Network"), g2_root_key.public_key(),
                0x1B2F3E4D5C6B7A8998A7B6C5D4E3F20110213243, signer=g2_root_key, algorithm=hashes.SHA384(), ca=True)
intermediate_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
intermediate = issue(name("alipay-notify Test Class 2 CA", "Certification Authority"), intermediate_key.public_key(),
                     0x4E7A1C9D2B3F5061, issuer=root, signer=root_key, ca=True, path_length=0)
LARGE_SERIAL = 0x8F1E2D3C4B5A69788796A5B4C3D2E1F0011223  # 19 bytes, high bit set: DER needs a leading 0x00
alipay_leaf = issue(name("支付宝(中国)网络技术有限公司-2088000000000000", "Alipay"), load_public("alipay_public.pem"),
                    LARGE_SERIAL, issuer=intermediate, signer=intermediate_key)
app_leaf = issue(name("2088000000000001", "Alipay"), load_public("app_public.pem"), 7, issuer=intermediate,
                 signer=intermediate_key)
assert LARGE_SERIAL.bit_length() == 152 and len(LARGE_SERIAL.to_bytes(19, "big")) == 19

for cert, issuer in ((root, root), (ec_root, ec_root), (g2_root, g2_root), (intermediate, root),
                     (alipay_leaf, intermediate), (app_leaf, intermediate)):
    verify_signed_by(cert, issuer)
assert der_signature_algorithm(ec_root.public_bytes(serialization.Encoding.DER)) == "1.2.840.10045.4.3.2"
# sha384WithRSA: an RSA root with another hash than the first (cryptography no longer signs with SHA-1).
assert der_signature_algorithm(g2_root.public_bytes(serialization.Encoding.DER)) == "1.2.840.113549.1.1.12"

files = {
    # Alipay's own files: root certificates separated by a blank line; a leaf followed by its issuing CA.
    "alipayRootCert.crt": "\n".join(pem(c) for c in (root, ec_root, g2_root)),
    "alipayRootCert_crlf.crt": "\n".join(pem(c) for c in (root, ec_root, g2_root)).replace("\n", "\r\n"),
    "alipayCertPublicKey_RSA2.crt": pem(alipay_leaf) + pem(intermediate),
    "appCertPublicKey.crt": pem(app_leaf) + pem(intermediate),
}
os.makedirs(OUT, exist_ok=True)
for file_name, text in files.items():
    with open(os.path.join(OUT, file_name), "w", newline="") as f:
        f.write(text)

entries = []


def add(file_name, kind, public_key_file=None, sdk_reads=True, note=None, expect_root_sn=None, first_sn=True):
    with open(os.path.join(OUT, file_name), "rb") as f:
        data = f.read()
    certificates = [describe(block) for block in blocks(data)]
    entry = {"file": file_name, "kind": kind}
    if first_sn:
        first = x509.load_pem_x509_certificate(blocks(data)[0])
        entry["cert_sn"] = independent_sn(first)
        if sdk_reads:
            sdk = DCAliPay.get_cert_sn(data.decode())
            assert sdk == entry["cert_sn"], ("python-alipay-sdk and cryptography disagree", file_name, sdk, entry["cert_sn"])
    else:
        entry["cert_sn"] = None
    if kind == "root_bundle":
        entry["root_cert_sn"] = "_".join(c["sn"] for c in certificates if c["rsa_signed"])
        if sdk_reads:
            sdk = DCAliPay.get_root_cert_sn(data.decode())
            assert sdk == entry["root_cert_sn"], ("python-alipay-sdk and cryptography disagree", file_name, sdk,
                                                  entry["root_cert_sn"])
        if expect_root_sn:
            assert entry["root_cert_sn"] == expect_root_sn, (file_name, entry["root_cert_sn"])
    if public_key_file:
        first = x509.load_pem_x509_certificate(blocks(data)[0])
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        assert first.public_key().public_bytes(serialization.Encoding.PEM, spki) == \
            load_public(public_key_file).public_bytes(serialization.Encoding.PEM, spki)
        entry["public_key_file"] = "keys/" + public_key_file
    entry["checked_by"] = ["python-alipay-sdk", "cryptography"] if sdk_reads else ["cryptography"]
    if note:
        entry["note"] = note
    entry["certificates"] = certificates
    entries.append(entry)


add("alipayRootCert.crt", "root_bundle")
add("alipayRootCert_crlf.crt", "root_bundle", sdk_reads=False,
    note="alipayRootCert.crt with CRLF line ends; same SNs. python-alipay-sdk splits bundles on \"\\n\\n\" and cannot read it.")
add("alipayCertPublicKey_RSA2.crt", "alipay_public_cert", public_key_file="alipay_public.pem")
add("appCertPublicKey.crt", "app_public_cert", public_key_file="app_public.pem")
assert entries[1]["root_cert_sn"] == entries[0]["root_cert_sn"]
assert entries[0]["root_cert_sn"].count("_") == 1
if os.path.exists(os.path.join(OUT, PRODUCTION_ROOT)):
    add(PRODUCTION_ROOT, "root_bundle", expect_root_sn=PRODUCTION_ROOT_SN, first_sn=False,
        note="Alipay's real production root bundle (public; from github.com/go-pay/gopay alipay/cert/cert.go). "
             "Its first certificate (NRCAC ROOTCA, SM2) has no OU, so it has no CN/OU/O/C SN; the E1 certificate "
             "encodes NULL parameters for ecdsa-with-SHA384, which cryptography refuses to parse.")

out = {
    "comment": "Generated by scripts/vectors/make_certificate_vectors.py: certificates made with cryptography, SNs "
               "computed with python-alipay-sdk (DCAliPay.get_cert_sn / get_root_cert_sn) and independently with "
               "cryptography. cert_sn is the SN of a file's first certificate; root_cert_sn joins with '_' the sn of "
               "its rsa_signed certificates (signature OID 1.2.840.113549.1.1.*), in file order. Test-only keys "
               "from Fixtures/keys; the CA keys were thrown away.",
    "files": entries,
}
with open(os.path.join(OUT, "vectors.json"), "w") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(entries)} certificate files -> {OUT}")
for entry in entries:
    print(f"  {entry['file']}: cert_sn={entry['cert_sn']} root_cert_sn={entry.get('root_cert_sn')}")
