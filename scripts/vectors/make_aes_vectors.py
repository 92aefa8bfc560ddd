#!/usr/bin/env python3
"""Writes Tests/AlipayKitTests/Fixtures/aes.json: AES content encryption (encrypt_type=AES) vectors.

Ciphertexts come from Alipay's official Python SDK (alipay.aop.api.util.EncryptUtils.encrypt_content /
decrypt_content: AES-128-CBC, zero IV, PKCS#7 over the UTF-8 bytes, base64) and are re-checked with `cryptography`.
That SDK code was written for pycrypto, which took str arguments; pycryptodome wants bytes, so EncryptUtils' AES is
wrapped to pass str as UTF-8 (what pycrypto did) and the SDK's own padding, base64 and charset code runs unchanged.
The encrypted gateway response is signed with SignatureUtils.sign_with_rsa2 over the ciphertext WITH its quotes,
the exact text DefaultAlipayClient extracts and verifies, and the SDK's own response parser must accept it and
decrypt it; the encrypted request is built and signed by DefaultAlipayClient itself (fixed clock) and must equal
the sign string built here as make_notification_vectors.py builds it. PKCS#1 v1.5 and CBC with a fixed key and IV
are deterministic, so re-running gives the same file.

    python3 -m venv /tmp/vectors && /tmp/vectors/bin/pip install -r scripts/vectors/requirements.txt
    /tmp/vectors/bin/python scripts/vectors/make_aes_vectors.py
"""
import base64
import datetime
import json
import os

import alipay.aop.api.DefaultAlipayClient as sdk_client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.constant.CommonConstants import THREAD_LOCAL
from alipay.aop.api.exception.Exception import ResponseException
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.util import EncryptUtils
from alipay.aop.api.util.EncryptUtils import decrypt_content, encrypt_content
from alipay.aop.api.util.SignatureUtils import sign_with_rsa2
from Crypto.Cipher import AES as PYCRYPTODOME_AES
from cryptography.hazmat.primitives import hashes, padding as symmetric_padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "AlipayKitTests", "Fixtures")
KEYS = os.path.join(FIXTURES, "keys")
APP_ID = "2021000000000001"
# A 128-bit key as the Alipay console shows it (base64); test-only.
AES_KEY = "s9mbO4HZHVo5HAzFf0xpLw=="


class PycryptoStyleAES:
    """EncryptUtils calls AES.new(key, MODE_CBC, '\\0' * 16) and cipher.encrypt(str): pycrypto encoded str as UTF-8."""
    block_size = PYCRYPTODOME_AES.block_size
    MODE_CBC = PYCRYPTODOME_AES.MODE_CBC

    def __init__(self, cipher):
        self.cipher = cipher

    @classmethod
    def new(cls, key, mode, iv):
        return cls(PYCRYPTODOME_AES.new(key, mode, iv.encode() if isinstance(iv, str) else iv))

    def encrypt(self, data):
        return self.cipher.encrypt(data.encode("utf-8") if isinstance(data, str) else data)

    def decrypt(self, data):
        return self.cipher.decrypt(data)


EncryptUtils.AES = PycryptoStyleAES


def read(name):
    with open(os.path.join(KEYS, name)) as f:
        return f.read()


def bare(pem):
    """The SDK wants keys as bare base64, as the Alipay console shows them."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


ALIPAY_PRIVATE = bare(read("alipay_private_pkcs1.pem"))
APP_PRIVATE = bare(read("app_private_pkcs1.pem"))
ALIPAY_PUBLIC = serialization.load_pem_public_key(read("alipay_public.pem").encode())
APP_PUBLIC = serialization.load_pem_public_key(read("app_public.pem").encode())


def independent_encrypt(plaintext, key=AES_KEY):
    padder = symmetric_padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(b"\0" * 16)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def independent_decrypt(ciphertext, key=AES_KEY):
    decryptor = Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(b"\0" * 16)).decryptor()
    padded = decryptor.update(base64.b64decode(ciphertext, validate=True)) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def independent_check(content, sign, public=ALIPAY_PUBLIC):
    public.verify(base64.b64decode(sign), content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())


def sdk_encrypt(plaintext):
    ciphertext = encrypt_content(plaintext, "AES", AES_KEY, "utf-8")
    assert ciphertext == independent_encrypt(plaintext), ("SDK and cryptography disagree", plaintext)
    assert decrypt_content(ciphertext, "AES", AES_KEY, "utf-8") == plaintext
    assert independent_decrypt(ciphertext) == plaintext
    return ciphertext


def sign_content(params, exclude=("sign",)):
    """As make_notification_vectors.py signs requests: drop sign, skip empty values, sort keys by bytes, join."""
    items = sorted(((k, v) for k, v in params.items() if k not in exclude and v != ""), key=lambda kv: kv[0].encode())
    return "&".join(f"{k}={v}" for k, v in items)


def sdk_client(**settings):
    config = AlipayClientConfig()
    config.app_id = APP_ID
    config.app_private_key = APP_PRIVATE
    config.alipay_public_key = bare(read("alipay_public.pem"))
    config.sign_type = "RSA2"
    config.charset = "utf-8"
    config.format = "JSON"
    for key, value in settings.items():
        setattr(config, key, value)
    THREAD_LOCAL.logger = None
    THREAD_LOCAL.uuid = "vectors"
    return DefaultAlipayClient(config)


def sdk_parse_response(body, **settings):
    """DefaultAlipayClient's own response parsing: locate the signed text, verify it, decrypt when encrypted."""
    return sdk_client(**settings)._DefaultAlipayClient__parse_response(body.encode("utf-8"))


# 1. Plain encryption of biz_content-like texts.
contents = []
for name, plaintext in [
    ("ascii_biz_content", '{"out_trade_no":"ORDER000001","product_code":"FAST_INSTANT_TRADE_PAY","subject":"Test order",'
                          '"total_amount":"88.88"}'),
    ("chinese_biz_content", '{"out_trade_no":"订单20240101","subject":"测试商品：中文标题","total_amount":"0.01"}'),
    ("empty", ""),
    ("exactly_16_bytes", "0123456789abcdef"),
    ("15_bytes", "0123456789abcde"),
    ("17_bytes", "0123456789abcdefg"),
    ("16_utf8_bytes_6_characters", "中文字符串x"),
    ("emoji_and_escapes", '{"subject":"🎉 \\"quoted\\" \\/ and \\\\ back","body":"line1\\nline2"}'),
    ("three_blocks_exactly", "a" * 48),
]:
    ciphertext = sdk_encrypt(plaintext)
    byte_length = len(plaintext.encode("utf-8"))
    assert len(base64.b64decode(ciphertext)) == (byte_length // 16 + 1) * 16
    contents.append({"name": name, "plaintext": plaintext, "plaintext_utf8_bytes": byte_length, "ciphertext": ciphertext})
assert [c["plaintext_utf8_bytes"] for c in contents if c["name"].endswith("bytes")][:3] == [16, 15, 17]

# Ciphertexts a decryptor must refuse (the SDK's unpad does not check padding; these are checked with cryptography).
key_bytes = base64.b64decode(AES_KEY)


def raw_cbc(data):
    encryptor = Cipher(algorithms.AES(key_bytes), modes.CBC(b"\0" * 16)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


invalid = []
for name, ciphertext, reason in [
    ("empty", "", "no block"),
    ("not_base64", "!!not*base64!!", "not base64"),
    ("not_block_multiple", base64.b64encode(base64.b64decode(contents[0]["ciphertext"])[:-1]).decode(), "length not a multiple of 16"),
    ("padding_byte_zero", raw_cbc(b"0123456789abcde\x00"), "last byte 0x00 is no PKCS#7 padding"),
    ("padding_byte_17", raw_cbc(b"0123456789abcde\x11"), "last byte 0x11 is more than a block"),
    ("padding_bytes_inconsistent", raw_cbc(b"0123456789abc\x01\x02\x03"), "pad bytes differ (03 preceded by 01 02)"),
    ("wrong_key", base64.b64encode(Cipher(algorithms.AES(bytes(16)), modes.CBC(b"\0" * 16)).encryptor().update(
        b"0123456789abcde\x00")).decode(), "made with another key; decrypts to garbage without valid padding"),
]:
    try:
        independent_decrypt(ciphertext)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name} decrypted")
    invalid.append({"name": name, "ciphertext": ciphertext, "reason": reason})

# 2. Encrypted gateway responses: {"<method>_response":"<base64>","sign":"..."}; the signed text is "<base64>" with quotes
#    (DefaultAlipayClient.__parse_response: response_str[em1.end() - 1:sign_start_index + 1]; Java JsonConverter
#    parseSignSourceData: body.substring(indexOfRootNode + rootNode.length() + 2, indexOf("\"sign\"") - 1)).
query_plaintext = ('{"code":"10000","msg":"Success","buyer_logon_id":"abc***@example.com","buyer_pay_amount":"88.88",'
                   '"buyer_user_id":"2088102000000001","invoice_amount":"88.88","out_trade_no":"ORDER000001",'
                   '"point_amount":"0.00","receipt_amount":"88.88","send_pay_date":"2024-01-01 12:00:00",'
                   '"store_name":"测试门店","total_amount":"88.88","trade_no":"2024010122001400000000000001",'
                   '"trade_status":"TRADE_SUCCESS"}')
assert json.loads(query_plaintext)["trade_status"] == "TRADE_SUCCESS"


def java_sign_source(body, method):
    """Alipay's Java SDK (JsonConverter.parseSignSourceData), re-implemented: from after '"<node>":' to before ',"sign"'."""
    root = method.replace(".", "_") + "_response"
    start = body.index(root) + len(root) + 2
    return body[start:body.index('"sign"') - 1]


responses = []


def add_response(name, method, raw, encrypted, sign_over, expect, decrypted=None):
    node = method.replace(".", "_") + "_response"
    value = '"%s"' % raw if encrypted else raw
    sign = sign_with_rsa2(ALIPAY_PRIVATE, sign_over, "utf-8")
    independent_check(sign_over, sign)
    body = '{"%s":%s,"sign":"%s"}' % (node, value, sign)
    settings = dict(encrypt_type="AES", encrypt_key=AES_KEY)
    if expect == "success":
        assert java_sign_source(body, method) == sign_over
        assert sdk_parse_response(body, **settings) == decrypted
    else:
        try:
            sdk_parse_response(body, **settings)
        except ResponseException:
            pass
        else:
            raise AssertionError(f"the SDK accepted {name}")
    responses.append({"name": name, "method": method, "encrypted": encrypted, "body": body, "sign_string": sign_over,
                      "expect": expect, "decrypted": decrypted})


query_ciphertext = sdk_encrypt(query_plaintext)
add_response("query_encrypted", "alipay.trade.query", query_ciphertext, True, '"%s"' % query_ciphertext, "success",
             query_plaintext)
add_response("query_encrypted_signed_without_quotes", "alipay.trade.query", query_ciphertext, True, query_ciphertext,
             "bad_signature")
add_response("query_encrypted_signed_over_plaintext", "alipay.trade.query", query_ciphertext, True, query_plaintext,
             "bad_signature")
# With encryption configured, a plain (not encrypted) response is verified as usual and returned as it is.
gateway_error = ('{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature",'
                 '"sub_msg":"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"}')
add_response("plain_gateway_error_with_encryption_on", "alipay.trade.query", gateway_error, False, gateway_error,
             "success", gateway_error)
refund_plaintext = ('{"code":"10000","msg":"Success","buyer_logon_id":"abc***@example.com","fund_change":"Y",'
                    '"gmt_refund_pay":"2024-01-02 10:00:00","out_trade_no":"ORDER000001","refund_fee":"88.88",'
                    '"trade_no":"2024010122001400000000000001"}')
refund_ciphertext = sdk_encrypt(refund_plaintext)
add_response("refund_encrypted", "alipay.trade.refund", refund_ciphertext, True, '"%s"' % refund_ciphertext, "success",
             refund_plaintext)

# 3. An encrypted request, built and signed by DefaultAlipayClient (biz_content is encrypted BEFORE signing, and
#    encrypt_type=AES is a signed parameter); the sign string is rebuilt here and must match.


class FixedClock:
    class datetime:
        @staticmethod
        def now():
            return datetime.datetime(2024, 1, 1, 12, 0, 0)


def encrypted_request(name, biz):
    biz_plaintext = json.dumps(biz, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    request = AlipayTradeQueryRequest()
    request.biz_content = biz  # the SDK serialises it (sorted keys, no spaces) and encrypts that text
    assert request.get_params()["biz_content"] == biz_plaintext
    real_datetime = sdk_client_module.datetime
    sdk_client_module.datetime = FixedClock
    try:
        common, application = sdk_client(encrypt_type="AES", encrypt_key=AES_KEY)._DefaultAlipayClient__prepare_request_params(request)
    finally:
        sdk_client_module.datetime = real_datetime
    parameters = {**application, **common}
    sdk_sign = parameters.pop("sign")
    assert parameters["encrypt_type"] == "AES" and parameters["timestamp"] == "2024-01-01 12:00:00"
    assert parameters["biz_content"] == sdk_encrypt(biz_plaintext)
    content = sign_content(parameters)
    assert sign_with_rsa2(APP_PRIVATE, content, "utf-8") == sdk_sign
    independent_check(content, sdk_sign, APP_PUBLIC)
    return {"name": name, "unix_time": 1704081600, "biz_content_plaintext": biz_plaintext,
            "parameters": dict(sorted(parameters.items())), "sign_string": content, "sign": sdk_sign}


# The first with query_options; the second exactly what AlipayKit's TradeQuery(outTradeNo:) sends, so that a test can
# compare every parameter AlipayKit signs, the signature included, with the SDK's.
requests = [
    encrypted_request("trade_query_encrypted", {"out_trade_no": "ORDER000001", "query_options": ["trade_settle_info"]}),
    encrypted_request("trade_query_encrypted_by_order_number", {"out_trade_no": "ORDER000001"}),
]

out = {
    "comment": "Generated by scripts/vectors/make_aes_vectors.py with alipay-sdk-python (EncryptUtils, SignatureUtils, "
               "DefaultAlipayClient) and cryptography (independent check). Test-only keys from Fixtures/keys.",
    "app_id": APP_ID,
    "key": AES_KEY,
    "contents": contents,
    "invalid_ciphertexts": invalid,
    "responses": responses,
    "requests": requests,
}
path = os.path.join(FIXTURES, "aes.json")
with open(path, "w") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(contents)} contents, {len(invalid)} invalid ciphertexts, {len(responses)} responses, "
      f"{len(requests)} requests -> {path}")
