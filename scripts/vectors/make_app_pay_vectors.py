#!/usr/bin/env python3
"""Writes Tests/AlipayKitTests/Fixtures/app_pay.json: app-pay order strings made by Alipay's official Python SDK.

`alipay.trade.app.pay` is never sent by the server: it signs the request into an "order string" that the merchant's
app hands to Alipay's app SDK. The official SDK makes it with DefaultAlipayClient.sdk_execute (every parameter,
URL-encoded). Here it signs with the fixture app key at a fixed clock; AppPayVectorTests signs the same request with
AlipayKit and requires the very same parameters and signature (the encodings may differ in order and in '+' for a
space, which every form decoder reads alike, so the test compares decoded parameters).

Usage: python3 -m venv /tmp/vectors-venv && /tmp/vectors-venv/bin/pip install -r scripts/vectors/requirements.txt
       /tmp/vectors-venv/bin/python scripts/vectors/make_app_pay_vectors.py
"""
import datetime
import json
import os
from urllib.parse import parse_qsl

import alipay.aop.api.DefaultAlipayClient as sdk_client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.constant.CommonConstants import THREAD_LOCAL
from alipay.aop.api.request.AlipayTradeAppPayRequest import AlipayTradeAppPayRequest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "AlipayKitTests", "Fixtures")
KEYS = os.path.join(FIXTURES, "keys")
APP_ID = "2021000000000001"
NOTIFY_URL = "https://merchant.example.com/alipay/notify"


def bare(pem):
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def read(name):
    with open(os.path.join(KEYS, name)) as f:
        return f.read()


class FixedClock:
    class datetime:
        @staticmethod
        def now():
            return datetime.datetime(2024, 1, 1, 12, 0, 0)


def order_string(name, biz):
    config = AlipayClientConfig()
    config.app_id = APP_ID
    config.app_private_key = bare(read("app_private_pkcs1.pem"))
    config.alipay_public_key = bare(read("alipay_public.pem"))
    config.sign_type = "RSA2"
    config.charset = "utf-8"
    config.format = "JSON"
    THREAD_LOCAL.logger = None
    request = AlipayTradeAppPayRequest()
    request.biz_content = biz
    request.notify_url = NOTIFY_URL
    real_datetime = sdk_client_module.datetime
    sdk_client_module.datetime = FixedClock
    try:
        text = DefaultAlipayClient(config).sdk_execute(request)
    finally:
        sdk_client_module.datetime = real_datetime
    parameters = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    assert parameters["timestamp"] == "2024-01-01 12:00:00" and parameters["method"] == "alipay.trade.app.pay"
    return {"name": name, "unix_time": 1704081600, "biz": biz, "order_string": text, "parameters": dict(sorted(parameters.items()))}


vectors = [
    # Exactly what AlipayKit's TradeAppPay(outTradeNo:totalAmount:subject:timeExpire:) sends.
    order_string("app_pay_ascii", {
        "out_trade_no": "APP000001", "total_amount": "88.88", "subject": "Green tea", "product_code": "QUICK_MSECURITY_PAY",
        "time_expire": "2024-01-01 12:30:00"}),
    order_string("app_pay_chinese_and_symbols", {
        "out_trade_no": "APP000002", "total_amount": "0.01", "subject": "绿茶 & tea + \"x\" = 1/2", "product_code": "QUICK_MSECURITY_PAY",
        "time_expire": "2024-01-01 12:30:00"}),
]
with open(os.path.join(FIXTURES, "app_pay.json"), "w", encoding="utf-8") as f:
    json.dump({"generator": "alipay-sdk-python 3.7.1411, DefaultAlipayClient.sdk_execute, fixed clock", "vectors": vectors},
              f, ensure_ascii=False, indent=2, sort_keys=True)
    f.write("\n")
print(f"wrote {len(vectors)} app-pay vectors")
