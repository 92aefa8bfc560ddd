#!/usr/bin/env bash
# Signs a few messages with the test app key using openssl, the reference the Swift signer must match byte for byte.
# Writes Tests/AlipayKitTests/Fixtures/signatures/<name>.txt (the exact message bytes, no trailing newline),
# <name>.rsa2 (base64 of `openssl dgst -sha256 -sign`) and <name>.rsa (base64 of `openssl dgst -sha1 -sign`).
# Usage: scripts/vectors/make_signature_vectors.sh     (no arguments; signs with Fixtures/keys/app_private_pkcs8.pem)
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi

fixtures="$(cd "$(dirname "$0")/../../Tests/AlipayKitTests/Fixtures" && pwd)"
key="$fixtures/keys/app_private_pkcs8.pem"
out="$fixtures/signatures"
mkdir -p "$out"

write() { printf '%s' "$2" > "$out/$1.txt"; }
write ascii 'hello alipay'
write empty ''
write chinese '商品名称=测试订单：中文 & 标点，。'
write emoji 'subject=🎉🧧红包&total_amount=0.01'
write request-sign-string 'app_id=2021000000000001&biz_content={"out_trade_no":"20240101000001","product_code":"FAST_INSTANT_TRADE_PAY","subject":"测试","total_amount":"88.88"}&charset=utf-8&format=JSON&method=alipay.trade.page.pay&sign_type=RSA2&timestamp=2024-01-01 12:00:00&version=1.0'
write notification-sign-string 'app_id=2021000000000001&notify_id=2024010100222000000000000001&notify_time=2024-01-01 12:00:00&notify_type=trade_status_sync&out_trade_no=20240101000001&subject=C++ & Java = 100%&total_amount=88.88&trade_no=2024010122001400000000000001&trade_status=TRADE_SUCCESS'
head -c 20000 /dev/zero | tr '\0' 'x' > "$out/long.txt"

for message in "$out"/*.txt; do
    name="${message%.txt}"
    echo "signing $(basename "$message")"
    openssl dgst -sha256 -sign "$key" "$message" | base64 -w0 > "$name.rsa2"
    openssl dgst -sha1 -sign "$key" "$message" | base64 -w0 > "$name.rsa"
    # Self-check with the public key so a broken vector never gets committed.
    openssl dgst -sha256 -verify "$fixtures/keys/app_public.pem" -signature <(base64 -d "$name.rsa2") "$message" > /dev/null
    openssl dgst -sha1 -verify "$fixtures/keys/app_public.pem" -signature <(base64 -d "$name.rsa") "$message" > /dev/null
done
echo "signature vectors written to $out"
