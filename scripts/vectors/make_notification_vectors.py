#!/usr/bin/env python3
"""Writes Tests/AlipayKitTests/Fixtures/vectors.json: notification, response and request vectors.

Signatures come from Alipay's official Python SDK (alipay.aop.api.util.SignatureUtils.sign_with_rsa2 /
sign_with_rsa) and are re-checked with `cryptography`, an implementation independent of both that SDK and
the Swift code under test. Bodies are form-encoded with Python's urllib (quote_plus: ' ' -> '+', '+' -> %2B),
again independent of the Swift encoder. PKCS#1 v1.5 is deterministic, so re-running gives the same file.

    python3 -m venv /tmp/vectors && /tmp/vectors/bin/pip install -r scripts/vectors/requirements.txt
    /tmp/vectors/bin/python scripts/vectors/make_notification_vectors.py
"""
import base64
import json
import os
import urllib.parse

from alipay.aop.api.util.SignatureUtils import sign_with_rsa, sign_with_rsa2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "AlipayKitTests", "Fixtures")
KEYS = os.path.join(FIXTURES, "keys")
APP_ID = "2021000000000001"
OTHER_APP_ID = "2021000000009999"


def read(name):
    with open(os.path.join(KEYS, name)) as f:
        return f.read()


def bare(pem):
    """The SDK wants the bare base64 of a PKCS#1 key, as the Alipay console shows it."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


ALIPAY_PRIVATE = bare(read("alipay_private_pkcs1.pem"))
APP_PRIVATE = bare(read("app_private_pkcs1.pem"))
ALIPAY_PUBLIC = serialization.load_pem_public_key(read("alipay_public.pem").encode())
APP_PUBLIC = serialization.load_pem_public_key(read("app_public.pem").encode())


def sign_content(params, exclude=("sign", "sign_type", "alipay_cert_sn"), keep_empty=False):
    """docs/alipay-protocol.md: drop excluded keys, skip empty values, sort keys by byte order, key=value joined by '&'."""
    items = [(k, v) for k, v in params.items() if k not in exclude and (keep_empty or v != "")]
    items.sort(key=lambda kv: kv[0].encode())
    return "&".join(f"{k}={v}" for k, v in items)


def sdk_sign(content, sign_type="RSA2", charset="utf-8", key=ALIPAY_PRIVATE):
    signer = sign_with_rsa2 if sign_type == "RSA2" else sign_with_rsa
    return signer(key, content, charset)


def independent_check(content_bytes, sign, sign_type="RSA2", public=ALIPAY_PUBLIC):
    digest = hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()
    public.verify(base64.b64decode(sign), content_bytes, padding.PKCS1v15(), digest)


def encode(params, charset="utf-8", quote_via=urllib.parse.quote_plus):
    return urllib.parse.urlencode(list(params.items()), encoding=charset, quote_via=quote_via)


counter = [0]


def notification(**overrides):
    counter[0] += 1
    n = counter[0]
    params = {
        "gmt_create": "2024-01-01 11:59:30",
        "charset": "utf-8",
        "seller_email": "merchant@example.com",
        "subject": "Test order",
        "sign_type": "RSA2",
        "buyer_id": "2088102000000001",
        "invoice_amount": "88.88",
        "notify_id": f"2024010100222{n:015d}",
        "fund_bill_list": '[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]',
        "notify_type": "trade_status_sync",
        "trade_status": "TRADE_SUCCESS",
        "receipt_amount": "88.88",
        "buyer_pay_amount": "88.88",
        "app_id": APP_ID,
        "seller_id": "2088102000000002",
        "gmt_payment": "2024-01-01 12:00:00",
        "notify_time": "2024-01-01 12:00:01",
        "version": "1.0",
        "out_trade_no": f"ORDER{n:06d}",
        "total_amount": "88.88",
        "trade_no": f"2024010122001400{n:012d}",
        "auth_app_id": APP_ID,
        "buyer_logon_id": "abc***@example.com",
        "point_amount": "0.00",
    }
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def signed(params, sign_type="RSA2", key=ALIPAY_PRIVATE, public=ALIPAY_PUBLIC, **content_options):
    charset = params.get("charset") or "utf-8"
    content = sign_content(params, **content_options)
    sign = sdk_sign(content, sign_type, charset, key)
    independent_check(content.encode(charset), sign, sign_type, public)
    return content, sign


valid = []


def add_valid(name, params, sign_type="RSA2", expect=None):
    content, sign = signed(params, sign_type)
    charset = params.get("charset") or "utf-8"
    body = encode({**params, "sign": sign}, charset)
    fund_bills = params.get("fund_bill_list", "")
    valid.append({
        "name": name,
        "sign_type": sign_type,
        "body": body,
        "sign_string": content,
        "expect": {
            "out_trade_no": params["out_trade_no"],
            "trade_status": params["trade_status"],
            "total_amount": params["total_amount"],
            "subject": params.get("subject") or None,
            "body": params.get("body") or None,
            "passback_params": params.get("passback_params") or None,
            "fund_bill_count": len(json.loads(fund_bills.replace("&quot;", '"'))) if fund_bills else 0,
            "charset": charset.lower(),
            **(expect or {}),
        },
    })


add_valid("trade_success", notification())
add_valid("trade_finished", notification(trade_status="TRADE_FINISHED"))
add_valid("refund_closed", notification(trade_status="TRADE_CLOSED", refund_fee="88.88", gmt_refund="2024-01-02 10:00:00.123",
                                        out_biz_no="REFUND0001", gmt_close="2024-01-02 10:00:00"), expect={"refund_fee": "88.88"})
add_valid("partial_refund", notification(refund_fee="8.88", gmt_refund="2024-01-02 10:00:00", out_biz_no="REFUND0002"),
          expect={"refund_fee": "8.88"})
add_valid("timeout_closed", notification(trade_status="TRADE_CLOSED", gmt_payment=None, fund_bill_list=None, receipt_amount=None,
                                         buyer_pay_amount=None, invoice_amount=None, point_amount=None, gmt_close="2024-01-01 12:30:00"))
add_valid("wait_buyer_pay", notification(trade_status="WAIT_BUYER_PAY", gmt_payment=None, fund_bill_list=None))
add_valid("chinese_subject", notification(subject="测试商品：中文标题"))
add_valid("chinese_body", notification(subject="订单", body="商品描述，含标点。！？“引号”【括号】"))
add_valid("plus_in_subject", notification(subject="C++ & Java"))
add_valid("ampersand_equals_percent", notification(subject="a=1&b=2 100% off", passback_params="k1=v1&k2=v2%3"))
add_valid("literal_percent_2B", notification(subject="literal %2B stays %2B", passback_params="%2B%20%25"))
add_valid("emoji_subject", notification(subject="🎉🧧 红包 👍🏽"))
add_valid("emoji_zwj_body", notification(subject="family", body="👨‍👩‍👧‍👦 and 🇨🇳"))
add_valid("empty_optional_fields", notification(body="", passback_params="", seller_email="", buyer_logon_id=""))
add_valid("long_body", notification(body="长" * 1000 + "x" * 3000))
add_valid("long_passback", notification(passback_params="p" * 2048))
add_valid("fund_bill_two_channels", notification(
    fund_bill_list='[{"amount":"80.00","fundChannel":"ALIPAYACCOUNT"},{"amount":"8.88","fundChannel":"COUPON","realAmount":"0.00"}]'))
add_valid("fund_bill_html_escaped", notification(fund_bill_list="[{&quot;amount&quot;:&quot;88.88&quot;,&quot;fundChannel&quot;:&quot;PCREDIT&quot;}]"))
add_valid("gbk_chinese", notification(charset="GBK", subject="测试商品", body="中文描述"))
add_valid("gbk_plus_and_symbols", notification(charset="gbk", subject="C++ 编程 & 设计 = 100%"))
add_valid("gbk_extended_chars", notification(charset="GBK", subject="朱镕基 喆 玥"))
add_valid("rsa_sha1", notification(sign_type="RSA"), sign_type="RSA")
add_valid("spaces", notification(subject="hello   world  ", body=" leading and trailing "))
add_valid("amount_one_fen", notification(total_amount="0.01", receipt_amount="0.01", invoice_amount="0.01", buyer_pay_amount="0.01",
                                         fund_bill_list='[{"amount":"0.01","fundChannel":"ALIPAYACCOUNT"}]'))
add_valid("amount_max", notification(total_amount="100000000.00", receipt_amount="100000000.00", fund_bill_list=None))
add_valid("amount_one_decimal", notification(total_amount="1.5", receipt_amount="1.5", fund_bill_list=None))
add_valid("amount_integer", notification(total_amount="100", receipt_amount="100", fund_bill_list=None))
add_valid("voucher_detail_list", notification(
    voucher_detail_list='[{"amount":"1.00","merchantContribute":"0.00","name":"满减券","otherContribute":"1.00","type":"ALIPAY_DISCOUNT_VOUCHER","voucherId":"2024"}]'))
add_valid("newlines_and_tabs", notification(body="line1\nline2\r\nline3\tend"))
add_valid("html_and_quotes", notification(subject="<b>\"bold\"</b> & 'single'", body="<script>alert(1)</script>"))
add_valid("value_starts_with_equals", notification(passback_params="=abc==", subject="a+b=c"))
add_valid("url_encoded_passback", notification(passback_params="merchantBizType%3d3C%26merchantBizNo%3d2016010101111"))
add_valid("japanese_korean", notification(subject="日本語 한국어 Ελληνικά"))
add_valid("many_optional_empty", notification(auth_app_id="", version="", gmt_create="", point_amount="", invoice_amount=""))
add_valid("no_fund_bill_list", notification(fund_bill_list=None))
add_valid("unicode_normalisation_kept", notification(subject="cafe\u0301 vs caf\u00e9"))

forged = []


def add_forged(name, body, reason, diagnosis=None, verifier_sign_type="RSA2"):
    forged.append({"name": name, "body": body, "reason": reason, "diagnosis": diagnosis or [],
                   "verifier_sign_type": verifier_sign_type})


def body_of(params, sign, charset="utf-8", quote_via=urllib.parse.quote_plus):
    return encode({**params, "sign": sign}, charset, quote_via)


p = notification()
content = sign_content(p)
wrong = sdk_sign(content, key=APP_PRIVATE)
independent_check(content.encode(), wrong, public=APP_PUBLIC)
add_forged("signed_with_app_key", body_of(p, wrong), "bad_signature", ["app_public_key"])

p = notification()
_, sign = signed(p)
add_forged("subject_changed", body_of({**p, "subject": "Changed"}, sign), "bad_signature", ["no_known_cause"])
add_forged("amount_changed", body_of({**p, "total_amount": "0.01"}, sign), "bad_signature", ["no_known_cause"])
add_forged("status_changed", body_of({**p, "trade_status": "TRADE_FINISHED"}, sign), "bad_signature")
add_forged("out_trade_no_changed", body_of({**p, "out_trade_no": "SOMEONE-ELSE"}, sign), "bad_signature")
add_forged("field_appended", body_of({**p, "refund_fee": "88.88"}, sign), "bad_signature")
add_forged("field_removed", body_of({k: v for k, v in p.items() if k != "seller_id"}, sign), "bad_signature")
add_forged("nested_key_appended", body_of(p, sign) + "&out_trade_no%5Bx%5D=1", "bad_signature")
add_forged("key_case_changed", body_of(p, sign).replace("out_trade_no=", "OUT_TRADE_NO="), "bad_signature")
add_forged("sign_missing", encode(p), "missing_sign", ["missing_sign"])
add_forged("sign_empty", body_of(p, ""), "missing_sign", ["missing_sign"])
add_forged("sign_truncated_block", body_of(p, sign[:-4]), "bad_signature")
add_forged("sign_truncated_char", body_of(p, sign[:-1]), "bad_sign_encoding", ["bad_sign_encoding"])
add_forged("sign_not_base64", body_of(p, "!!not*base64!!"), "bad_sign_encoding", ["bad_sign_encoding"])
add_forged("sign_trailing_garbage", body_of(p, sign + "AAAA"), "bad_sign_encoding", ["bad_sign_encoding"])  # data after '=' padding
flipped = sign[:10] + ("B" if sign[10] != "B" else "C") + sign[11:]
add_forged("sign_one_char_changed", body_of(p, flipped), "bad_signature", ["no_known_cause"])
add_forged("sign_from_other_notification", body_of(notification(), sign), "bad_signature")
add_forged("duplicate_out_trade_no", body_of(p, sign) + "&out_trade_no=OTHER", "bad_form", ["malformed_body"])
add_forged("duplicate_sign", body_of(p, sign) + "&sign=" + urllib.parse.quote_plus(sign), "bad_form")
add_forged("bad_percent_encoding", body_of(p, sign) + "&extra=%ZZ", "bad_form")
add_forged("truncated_percent_encoding", body_of(p, sign) + "&extra=%4", "bad_form")
add_forged("unsupported_charset", body_of({**p, "charset": "big5"}, sign), "bad_form")
add_forged("empty_body", "", "missing_sign")

p = notification(sign_type="RSA")
content = sign_content(p)
rsa1 = sdk_sign(content, "RSA")
add_forged("sign_type_downgraded_rsa1", body_of(p, rsa1), "sign_type", ["sign_type_mismatch", "other_sign_type"])
p = notification()
_, sign = signed(p)
add_forged("sign_type_relabelled", body_of({**p, "sign_type": "RSA"}, sign), "sign_type", ["sign_type_mismatch"])

p = notification(app_id=OTHER_APP_ID, auth_app_id=OTHER_APP_ID)
_, sign = signed(p)
add_forged("foreign_app_id", body_of(p, sign), "foreign_app_id", ["foreign_app_id"])

p = notification(total_amount="88.888")
_, sign = signed(p)
add_forged("amount_three_decimals_signed", body_of(p, sign), "bad_field", ["bad_field"])
p = notification(total_amount="1e2")
_, sign = signed(p)
add_forged("amount_exponent_signed", body_of(p, sign), "bad_field", ["bad_field"])
p = notification(trade_no=None)
_, sign = signed(p)
add_forged("trade_no_missing_signed", body_of(p, sign), "missing_field", ["bad_field"])
p = notification(trade_status="TRADE_PENDING")
_, sign = signed(p)
add_forged("unknown_status_signed", body_of(p, sign), "bad_field", ["bad_field"])

# Signed with request rules (sign_type kept in the sign string).
p = notification()
content = sign_content(p, exclude=("sign",))
add_forged("sign_type_in_sign_string", body_of(p, sdk_sign(content)), "bad_signature", ["sign_type_signed"])
# Signed without skipping empty values.
p = notification(body="", passback_params="")
content = sign_content(p, keep_empty=True)
add_forged("empty_values_signed", body_of(p, sdk_sign(content)), "bad_signature", ["empty_values_signed"])

# A literal '+' reached the decoder: spaces sent as %20, but the '+' of the subject left unencoded.
p = notification(subject="C++")
_, sign = signed(p)
raw = body_of(p, sign, quote_via=urllib.parse.quote)
assert "C%2B%2B" in raw
add_forged("plus_not_encoded", raw.replace("C%2B%2B", "C++"), "bad_signature", ["plus_became_space"])

# The body was percent-encoded twice on its way (every value quoted once more).
p = notification(subject="50% off", passback_params="a b")
_, sign = signed(p)
twice = "&".join(f"{k}={urllib.parse.quote_plus(urllib.parse.quote_plus(v))}" for k, v in {**p, "sign": sign}.items())
# A 2048-bit signature always ends in '=' padding, which double encoding turns into "%3D" after one decoding.
add_forged("encoded_twice", twice, "bad_sign_encoding", ["encoded_twice"])

# The body had already been decoded once (pasted from a log): raw values, literal '%20' in passback_params.
p = notification(passback_params="a%20b", subject="plain")
_, sign = signed(p)
decoded = "&".join(f"{k}={v}" for k, v in {**p, "sign": sign}.items())
add_forged("decoded_before_verify", decoded, "bad_sign_encoding" if "+" in sign else "bad_signature", ["decoded_twice"])

responses = []


def add_response(name, method, raw, sign_over=None, layout="normal", expect="success", sign_type="RSA2"):
    content = sign_over if sign_over is not None else raw
    sign = sdk_sign(content, sign_type)
    independent_check(content.encode(), sign, sign_type)
    node = method.replace(".", "_") + "_response"
    escaped_sign = sign.replace("/", "\\/") if layout == "escaped_sign" else sign
    if layout == "sign_first":
        body = '{"sign":"%s",\n  "%s" : %s }' % (sign, node, raw)
    elif layout == "cert_sn":
        body = '{"%s":%s,"alipay_cert_sn":"abc123","sign":"%s"}' % (node, raw, sign)
    else:
        body = '{"%s":%s,"sign":"%s"}' % (node, raw, escaped_sign)
    responses.append({"name": name, "method": method, "body": body, "raw": raw, "expect": expect})


tricky = ('{"code":"10000","msg":"Success","buyer_logon_id":"abc***@example.com","buyer_pay_amount":"88.88",'
          '"out_trade_no":"ORDER}{\\"1","receipt_amount":"88.88","send_pay_date":"2024-01-01 12:00:00",'
          '"total_amount":"88.88","trade_no":"2024010122001400000000000001","trade_status":"TRADE_SUCCESS",'
          '"fund_bill_list":[{"amount":"88.88","fund_channel":"ALIPAYACCOUNT"}],'
          '"ext_infos":{"nested":{"deeper":"}]\\\\"},"list":[1,2,{"x":"{"}]},'
          '"store_name":"A \\"quoted\\" }{ store: http:\\/\\/example.com\\/x"}')
add_response("query_tricky_strings", "alipay.trade.query", tricky)
add_response("query_java_unescaped_retry", "alipay.trade.query", tricky, sign_over=tricky.replace("\\/", "/"))
add_response("query_sign_first_whitespace", "alipay.trade.query", tricky, layout="sign_first")
add_response("query_cert_sn_sibling", "alipay.trade.query", tricky, layout="cert_sn")
add_response("query_escaped_slashes_in_sign", "alipay.trade.query", tricky, layout="escaped_sign")
add_response("query_chinese", "alipay.trade.query",
             '{"code":"10000","msg":"Success","out_trade_no":"订单1","trade_no":"T1","trade_status":"WAIT_BUYER_PAY",'
             '"total_amount":"0.01","buyer_logon_id":"中文***"}')
add_response("query_trade_not_exist", "alipay.trade.query",
             '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在",'
             '"buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":"ORDER1","point_amount":"0.00","receipt_amount":"0.00"}',
             expect="trade_not_exist")
add_response("refund_success", "alipay.trade.refund",
             '{"code":"10000","msg":"Success","buyer_logon_id":"abc***@example.com","fund_change":"Y",'
             '"gmt_refund_pay":"2024-01-02 10:00:00","out_trade_no":"ORDER1","refund_fee":"88.88","trade_no":"T1"}')
add_response("close_status_error", "alipay.trade.close",
             '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR","sub_msg":"交易状态不合法"}',
             expect="rejected")
add_response("query_tampered_after_signing", "alipay.trade.query", tricky, sign_over=tricky.replace("88.88", "0.01"),
             expect="retryable")

requests = []
page_pay = {
    "app_id": APP_ID, "method": "alipay.trade.page.pay", "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
    "timestamp": "2024-01-01 12:00:00", "version": "1.0", "notify_url": "https://merchant.example.com/alipay/notify",
    "return_url": "https://merchant.example.com/alipay/return",
    "biz_content": json.dumps({"out_trade_no": "ORDER000001", "total_amount": "88.88", "subject": "测试 & <订单> \"x\"",
                               "product_code": "FAST_INSTANT_TRADE_PAY"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
}
content = sign_content(page_pay, exclude=("sign",))
sign = sdk_sign(content, key=APP_PRIVATE)
independent_check(content.encode(), sign, public=APP_PUBLIC)
requests.append({"name": "page_pay", "unix_time": 1704081600, "parameters": page_pay, "sign_string": content, "sign": sign})

out = {
    "comment": "Generated by scripts/vectors/make_notification_vectors.py with alipay-sdk-python (signing) and "
               "cryptography (independent check). Test-only keys from Fixtures/keys.",
    "app_id": APP_ID,
    "valid": valid,
    "forged": forged,
    "responses": responses,
    "requests": requests,
}
path = os.path.join(FIXTURES, "vectors.json")
with open(path, "w") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(valid)} valid and {len(forged)} forged notifications, {len(responses)} responses, {len(requests)} requests -> {path}")
