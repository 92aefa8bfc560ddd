#!/usr/bin/env python3
"""Load generator for notify-receiver: POSTs pre-signed, unique Alipay notifications over keep-alive connections.

Usage: receiver_load.py sign --key ALIPAY_PRIVATE_KEY.pem --app-id ID [--count 10000] [--prefix bench] --out BODIES.txt
       receiver_load.py run --url http://127.0.0.1:PORT/alipay/notify --bodies BODIES.txt [--connections 64]
                            [--rate PER_SECOND] [--ack-log FILE]
Prints one JSON line: requests, ok, failed, seconds, per_second, p50_ms, p99_ms.
--prefix: notify_ids are PREFIX-RUNID-INDEX (a second file signed for the same receiver gets its own ids).
--rate: at most this many requests per second in all (paced: request i is not sent before start + i/rate); the
default sends as fast as the connections allow.
--ack-log: one line per `success` answer, "UNIX_SECONDS NOTIFY_ID", the time taken when the answer was read (so the
commit it acknowledges happened before it), flushed as it goes (a drill may read it while the load runs).
Standard library only (signing uses the `cryptography` package when present, else the openssl command).
"""
import argparse
import asyncio
import base64
import json
import subprocess
import sys
import time
import urllib.parse


def sign_string(params):
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] != "")


def make_signer(key_path):
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        return lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    except ImportError:
        def openssl_sign(message):
            return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=message,
                                  capture_output=True, check=True).stdout
        return openssl_sign


def sign_bodies(args):
    signer = make_signer(args.key)
    run_id = str(int(time.time()))
    with open(args.out, "w") as out:
        for index in range(args.count):
            params = {
                "notify_time": "2025-01-31 16:15:00", "notify_type": "trade_status_sync",
                "notify_id": f"{args.prefix}-{run_id}-{index}", "app_id": args.app_id, "charset": "utf-8", "version": "1.0",
                "trade_no": f"20250131220014{index:014d}", "out_trade_no": f"BENCH{run_id}N{index}",
                "trade_status": "TRADE_SUCCESS", "total_amount": "88.88", "receipt_amount": "88.88",
                "seller_id": "2088000000000001", "buyer_id": "2088102177846880", "subject": "Bench order",
                "gmt_payment": "2025-01-31 16:14:59",
                "fund_bill_list": '[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]',
            }
            signature = base64.b64encode(signer(sign_string(params).encode())).decode()
            params["sign_type"] = "RSA2"
            params["sign"] = signature
            out.write(urllib.parse.urlencode(params, quote_via=urllib.parse.quote) + "\n")


async def exchange(reader, writer, request):
    """Sends one HTTP/1.1 request on a kept-alive connection; returns (status code bytes, body bytes)."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    answer = await reader.readexactly(length) if length else b""
    return (status_line.split(b" ")[1:2] or [b""])[0], answer


def notify_id_of(body):
    for pair in body.split(b"&"):
        if pair.startswith(b"notify_id="):
            return urllib.parse.unquote(pair[len(b"notify_id="):].decode())
    return ""


async def worker(host, port, path, bodies, cursor, latencies, counts, pace=None, ack_log=None):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            index = cursor[0]
            if index >= len(bodies):
                return
            cursor[0] += 1
            body = bodies[index]
            if pace is not None:  # (start, rate): request `index` is due at start + index / rate
                delay = pace[0] + index / pace[1] - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            started = time.perf_counter()
            status, answer = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status == b"200" and answer == b"success":
                counts["ok"] += 1
                if ack_log is not None:
                    ack_log.write(f"{time.time():.6f} {notify_id_of(body)}\n")
                    ack_log.flush()
            else:
                counts["failed"] += 1
    finally:
        writer.close()


async def run_load(args):
    url = urllib.parse.urlsplit(args.url)
    with open(args.bodies, "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()]
    cursor, latencies, counts = [0], [], {"ok": 0, "failed": 0}
    ack_log = open(args.ack_log, "a") if args.ack_log else None
    started = time.perf_counter()
    pace = (started, args.rate) if args.rate else None
    try:
        await asyncio.gather(*(worker(url.hostname, url.port, url.path, bodies, cursor, latencies, counts, pace, ack_log)
                               for _ in range(args.connections)))
    finally:
        if ack_log is not None:
            ack_log.close()
    seconds = time.perf_counter() - started
    latencies.sort()

    def percentile(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2) if latencies else None

    print(json.dumps({"requests": len(latencies), "ok": counts["ok"], "failed": counts["failed"],
                      "seconds": round(seconds, 2), "per_second": round(len(latencies) / seconds, 1),
                      "p50_ms": percentile(0.50), "p99_ms": percentile(0.99)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sign = commands.add_parser("sign")
    sign.add_argument("--key", required=True)
    sign.add_argument("--app-id", required=True)
    sign.add_argument("--count", type=int, default=10000)
    sign.add_argument("--out", required=True)
    sign.add_argument("--prefix", default="bench", help="notify_id prefix (default: bench)")
    run = commands.add_parser("run")
    run.add_argument("--url", required=True)
    run.add_argument("--bodies", required=True)
    run.add_argument("--connections", type=int, default=64)
    run.add_argument("--rate", type=float, default=None, help="requests per second in all (default: as fast as possible)")
    run.add_argument("--ack-log", default=None, help='append "UNIX_SECONDS NOTIFY_ID" for every success answer')
    args = parser.parse_args()
    if args.command == "sign":
        sign_bodies(args)
    else:
        asyncio.run(run_load(args))


if __name__ == "__main__":
    sys.exit(main())
