#!/usr/bin/env bash
# Generates the TEST-ONLY RSA keys committed in Tests/AlipayKitTests/Fixtures/keys.
# These keys protect nothing: never configure them anywhere but tests.
# Usage: scripts/vectors/make_keys.sh [OUT_DIR]     (default Tests/AlipayKitTests/Fixtures/keys; overwrites the keys there)
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi

out="${1:-$(dirname "$0")/../../Tests/AlipayKitTests/Fixtures/keys}"
mkdir -p "$out"
cd "$out"

for name in app alipay; do
    echo "generating $name key pair (2048 bits)"
    openssl genrsa -out "${name}_private_pkcs8.pem" 2048 2>/dev/null           # OpenSSL 3 writes PKCS#8
    openssl rsa -in "${name}_private_pkcs8.pem" -traditional -out "${name}_private_pkcs1.pem" 2>/dev/null
    openssl rsa -in "${name}_private_pkcs8.pem" -pubout -out "${name}_public.pem" 2>/dev/null
done

echo "deriving a PKCS#1 public key and a self-signed certificate from the app key (other formats to accept or refuse)"
openssl rsa -in app_private_pkcs8.pem -RSAPublicKey_out -out app_public_pkcs1.pem 2>/dev/null
openssl req -x509 -key app_private_pkcs8.pem -subj "/CN=alipay-notify test" -days 36500 -out app_cert.pem 2>/dev/null

echo "generating a 1024-bit key pair (must be refused)"
openssl genrsa -out weak1024_private.pem 1024 2>/dev/null
openssl rsa -in weak1024_private.pem -pubout -out weak1024_public.pem 2>/dev/null

echo "generating a P-256 EC key (not RSA: must be refused)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec_private.pem 2>/dev/null

echo "keys written to $out"
