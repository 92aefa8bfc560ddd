#!/usr/bin/env python3
"""Drives alipay-sandbox and notify-receiver for `scripts/chaos gateway-faults` and `scripts/soak`.

Standard library only (python3 + the `openssl` command). Subcommands:

  setup   create N orders through the receiver's orders API and put each in a known state at the sandbox:
          paid (cashier opened, buyer logged in and paid), login (trade WAIT_BUYER_PAY), open (pre-trade: the
          cashier was opened, Alipay has no trade), none (never opened). Writes "out_trade_no role amount" lines.
  proxy   a man-in-the-middle gateway between the worker and the sandbox: forwards every request, except that a
          fraction of alipay.trade.query calls about the orders in --roles are answered with invented content
          (an unpaid order "TRADE_SUCCESS", a paid one "TRADE_CLOSED") signed with a throwaway key or not signed at
          all. GET /proxy/stats says how many it forwarded and forged. The worker must never apply one.
          (--sign-with the sandbox's own key makes the forgeries verify: a self-test that the checks can fail.)
  load    a steady rate of orders: created, cashier opened, then paid (or left unpaid) at the sandbox, so real
          signed notifications flow sandbox -> receiver -> queue -> worker. Logs "out_trade_no role pay_epoch".
  sample  every few seconds: RSS and open file descriptors of the daemons, queue depth and payment latency, one
          CSV row per sample, until a stop file appears or --seconds pass.
  verdict reads the CSV and prints the soak verdict line; exit 1 when a bound is exceeded.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLES_UNPAID = ("login", "open", "none")


def http(method, url, body=None, timeout=30.0):
    """(status, text) of one request; JSON bodies for dicts."""
    data, headers = None, {}
    if isinstance(body, dict):
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    elif body is not None:
        data = body
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def amount_of(index):
    fen = 1 + (index * 7919) % 99999
    return "%d.%02d" % (fen // 100, fen % 100)


def create_and_open(api, sandbox, out_trade_no, amount, role, subject):
    """Creates the order at the receiver, opens its cashier (page.pay) and logs in / pays at the sandbox per role.
    Returns the wall-clock time the pay call was sent (0 when not paid)."""
    status, text = http("POST", api + "/api/orders", {"out_trade_no": out_trade_no, "total_amount": amount, "subject": subject})
    if status != 201:
        raise RuntimeError("POST /api/orders %s: HTTP %s %s" % (out_trade_no, status, text[:200]))
    if role == "none":
        return 0.0
    pay_url = json.loads(text)["pay_url"]
    status, text = http("GET", pay_url)
    if status != 200:
        raise RuntimeError("opening the cashier of %s: HTTP %s %s" % (out_trade_no, status, text[:200]))
    if role == "open":
        return 0.0
    action = "pay" if role == "paid" else "login"
    sent = time.time()
    status, text = http("POST", "%s/sandbox/trades/%s/%s" % (sandbox, out_trade_no, action))
    expected = "TRADE_SUCCESS" if role == "paid" else "WAIT_BUYER_PAY"
    if status != 200 or json.loads(text).get("status") != expected:
        raise RuntimeError("sandbox %s of %s: HTTP %s %s" % (action, out_trade_no, status, text[:200]))
    return sent


def setup(args):
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    orders = []
    for index in range(args.orders):
        # Paid ones spread over the whole range; the unpaid ones cycle through the three unpaid states.
        paid = (index * 37) % 100 < args.paid_percent
        role = "paid" if paid else ROLES_UNPAID[index % 3]
        orders.append(("%s%s_%05d" % (args.prefix, stamp, index), role, amount_of(index)))

    def one(order):
        create_and_open(args.api, args.sandbox, order[0], order[2], order[1], "gateway faults %s" % order[0])

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        for future in concurrent.futures.as_completed([pool.submit(one, order) for order in orders]):
            future.result()
    with open(args.out, "w") as out:
        for order in orders:
            out.write("%s %s %s\n" % order)
    counts = {}
    for _, role, _ in orders:
        counts[role] = counts.get(role, 0) + 1
    print(" ".join("%s=%d" % item for item in sorted(counts.items())))


class ForgingProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    roles = {}
    forge = 0.0
    signed_fraction = 0.5
    key = ""
    lock = threading.Lock()
    rng = random.Random(1)
    stats = {"forwarded": 0, "forged": 0, "forged_signed": 0, "forged_unsigned": 0, "forged_orders": set()}

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/proxy/stats":
            with self.lock:
                stats = dict(self.stats)
                stats["forged_orders"] = len(stats["forged_orders"])
            self.answer(200, json.dumps(stats).encode(), "application/json")
        else:
            self.forward(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.forward(self.rfile.read(length) if length else b"")

    def answer(self, status, body, content_type):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the worker gave up (its timeout) before the answer came: as with a slow Alipay

    def forward(self, body):
        query = urllib.parse.urlsplit(self.path).query
        parameters = dict(urllib.parse.parse_qsl(query))
        parameters.update(dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))))
        if parameters.get("method") == "alipay.trade.query":
            try:
                out_trade_no = json.loads(parameters.get("biz_content", "{}")).get("out_trade_no")
            except ValueError:
                out_trade_no = None
            role = self.roles.get(out_trade_no)
            with self.lock:
                draw = self.rng.random()
            if role is not None and draw < self.forge:
                self.answer(200, self.forged(out_trade_no, role).encode(), "application/json;charset=utf-8")
                return
        request = urllib.request.Request(self.upstream + self.path, data=body if self.command == "POST" else None, method=self.command)
        if self.headers.get("Content-Type"):
            request.add_header("Content-Type", self.headers["Content-Type"])
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text, content_type = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            status, text, content_type = error.code, error.read(), error.headers.get("Content-Type", "")
        except OSError as error:
            status, text, content_type = 502, ("proxy: %s" % error).encode(), "text/plain"
        with self.lock:
            self.stats["forwarded"] += 1
        self.answer(status, text, content_type or "application/octet-stream")

    def forged(self, out_trade_no, role):
        """An invented answer shaped like the sandbox's: what a tampering middlebox or a bug upstream could say."""
        status, amount = (("TRADE_CLOSED", "0.00") if role[0] == "paid" else ("TRADE_SUCCESS", role[1]))
        node = json.dumps({
            "code": "10000", "msg": "Success", "trade_no": "2099010122001400000000000000",
            "out_trade_no": out_trade_no, "buyer_logon_id": "139****0000", "buyer_user_id": "2088000000000000",
            "trade_status": status, "total_amount": role[1], "buyer_pay_amount": amount, "point_amount": "0.00",
            "invoice_amount": amount, "receipt_amount": amount, "send_pay_date": "2026-01-01 00:00:00", "subject": "forged",
        }, ensure_ascii=False, separators=(",", ":"))
        with self.lock:
            signed = self.rng.random() < self.signed_fraction
            self.stats["forged"] += 1
            self.stats["forged_signed" if signed else "forged_unsigned"] += 1
            self.stats["forged_orders"].add(out_trade_no)
        if not signed:
            return '{"alipay_trade_query_response":%s}' % node
        sign = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key, "-binary"], input=node.encode(), capture_output=True, check=True).stdout
        return '{"alipay_trade_query_response":%s,"sign":"%s"}' % (node, base64.b64encode(sign).decode())


def proxy(args):
    roles = {}
    with open(args.roles) as lines:
        for line in lines:
            out_trade_no, role, amount = line.split()
            roles[out_trade_no] = (role, amount)
    key = args.sign_with
    if not key:
        key = os.path.join(tempfile.mkdtemp(prefix="forger."), "throwaway.pem")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], capture_output=True, check=True)
    ForgingProxy.signed_fraction = args.signed_fraction
    ForgingProxy.upstream = args.upstream.rstrip("/")
    ForgingProxy.roles = roles
    ForgingProxy.forge = args.forge
    ForgingProxy.key = key
    ForgingProxy.rng = random.Random(args.seed)
    # socketserver's default listen backlog is 5: with the worker's concurrent connections, SYNs beyond it would be
    # dropped and retried after 1 s, 3 s, ... — delays that are the proxy's, not the product's.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", args.port), ForgingProxy)
    server.daemon_threads = True
    print("proxy: listening on 127.0.0.1:%d, forging %.0f%% of trade.query answers about %d orders" % (
        args.port, args.forge * 100, len(roles)), flush=True)
    server.serve_forever()


def load(args):
    """Steady load: one order every 1/rate seconds, each handled on a pool thread."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    lock = threading.Lock()
    counts = {"created": 0, "paid": 0, "unpaid": 0, "errors": 0}
    log = open(args.log, "w", buffering=1)

    def one(index):
        unpaid = (index * 37) % 100 < args.unpaid_percent
        role = ("login", "open")[index % 2] if unpaid else "paid"
        out_trade_no = "%s%s_%06d" % (args.prefix, stamp, index)
        try:
            sent = create_and_open(args.api, args.sandbox, out_trade_no, amount_of(index), role, "soak %d" % index)
        except Exception as error:  # counted and printed; the soak goes on
            with lock:
                counts["errors"] += 1
            print("load: %s" % error, file=sys.stderr, flush=True)
            return
        with lock:
            counts["created"] += 1
            counts["paid" if role == "paid" else "unpaid"] += 1
            log.write("%s %s %.3f\n" % (out_trade_no, role, sent))

    interval = 1.0 / args.rate
    start = time.monotonic()
    index = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        while True:
            due = start + index * interval
            if due - start >= args.seconds or os.path.exists(args.stop_file or "/nonexistent"):
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, index)
            index += 1
    log.close()
    print("load: " + " ".join("%s=%d" % item for item in counts.items()), flush=True)
    if counts["errors"] > max(3, counts["created"] // 100):
        sys.exit(1)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def db_time(text):
    """GRDB's 'YYYY-MM-DD HH:MM:SS.SSS' (UTC) as epoch seconds."""
    return datetime.strptime(text[:23], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def percentile(values, fraction):
    if not values:
        return ""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def sample(args):
    pids = {name: int(pid) for name, pid in (item.split("=") for item in args.pids.split(","))}
    names = list(pids)
    header = ["t_s", "orders", "paid_sent", "paid_local", "unsettled", "unsettled_oldest_s"]
    header += ["%s_rss_kib" % name for name in names] + ["%s_fds" % name for name in names]
    header += ["queue_pending", "queue_running", "queue_due", "jobs_dead", "latency_n", "latency_p50_ms", "latency_p95_ms", "latency_max_ms"]
    out = open(args.csv, "w", buffering=1)
    out.write(",".join(header) + "\n")
    sent = {}  # out_trade_no -> pay time, for paid orders not yet seen paid locally
    log_position = 0
    paid_sent = 0
    start = time.time()
    stop = start + args.seconds
    tick = 0
    while True:
        tick += 1
        now = time.time()
        # New lines of the load log.
        try:
            with open(args.paid_log) as log:
                log.seek(log_position)
                for line in log:
                    if not line.endswith("\n"):
                        break
                    log_position += len(line)
                    out_trade_no, role, pay = line.split()
                    if role == "paid":
                        sent[out_trade_no] = float(pay)
                        paid_sent += 1
        except FileNotFoundError:
            pass
        database = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True, timeout=10)
        try:
            rows = dict(database.execute(
                "SELECT state, count(*) FROM jobs WHERE state IN ('pending','running','dead') GROUP BY state").fetchall())
            due = database.execute(
                "SELECT count(*) FROM jobs WHERE state = 'pending' AND run_at <= ?",
                (datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:23],)).fetchone()[0]
            orders, paid_local = database.execute(
                "SELECT count(*), count(paid_at) FROM orders").fetchone()
            latencies = []
            pending = list(sent)
            for chunk in range(0, len(pending), 500):
                names_chunk = pending[chunk:chunk + 500]
                for out_trade_no, paid_at in database.execute(
                        "SELECT out_trade_no, paid_at FROM orders WHERE paid_at IS NOT NULL AND out_trade_no IN (%s)"
                        % ",".join("?" * len(names_chunk)), names_chunk):
                    latencies.append((db_time(paid_at) - sent.pop(out_trade_no)) * 1000)
        finally:
            database.close()
        oldest = round(now - min(sent.values()), 1) if sent else 0
        row = [round(now - start, 1), orders, paid_sent, paid_local, len(sent), oldest]
        row += [rss_kib(pids[name]) for name in names] + [fd_count(pids[name]) for name in names]
        row += [rows.get("pending", 0), rows.get("running", 0), due, rows.get("dead", 0), len(latencies)]
        row += [("%.0f" % v) if v != "" else "" for v in (percentile(latencies, 0.5), percentile(latencies, 0.95), max(latencies) if latencies else "")]
        out.write(",".join(str(value) for value in row) + "\n")
        if now >= stop or (args.stop_file and os.path.exists(args.stop_file)):
            break
        time.sleep(max(0.0, start + tick * args.interval - time.time()))
    out.close()


def verdict(args):
    with open(args.csv) as lines:
        header = lines.readline().strip().split(",")
        rows = [dict(zip(header, line.strip().split(","))) for line in lines if line.strip()]
    if len(rows) < 8:
        print("soak: FAIL: only %d samples in %s" % (len(rows), args.csv))
        sys.exit(1)
    quarter = max(1, len(rows) // 4)
    first, last = rows[:quarter], rows[-quarter:]

    def median(part, column):
        return statistics.median(float(row[column]) for row in part)

    parts, failures = [], []
    for name in args.bounded.split(","):
        a, b = median(first, name + "_rss_kib"), median(last, name + "_rss_kib")
        growth = (b - a) / a * 100
        parts.append("%s_rss_mib=%.1f->%.1f(%+.1f%%)" % (name, a / 1024, b / 1024, growth))
        if growth > args.max_rss_growth_pct:
            failures.append("%s RSS grew %.1f%% (bound %.0f%%)" % (name, growth, args.max_rss_growth_pct))
        fa, fb = median(first, name + "_fds"), median(last, name + "_fds")
        parts.append("%s_fds=%.0f->%.0f" % (name, fa, fb))
        if fb - fa > args.max_fd_growth:
            failures.append("%s open fds grew by %.0f (bound %d)" % (name, fb - fa, args.max_fd_growth))
    for name in args.informational.split(",") if args.informational else []:
        a, b = median(first, name + "_rss_kib"), median(last, name + "_rss_kib")
        parts.append("%s_rss_mib=%.1f->%.1f" % (name, a / 1024, b / 1024))
    max_due = max(int(row["queue_due"]) for row in rows)
    max_live = max(int(row["queue_pending"]) + int(row["queue_running"]) for row in rows)
    max_unsettled_age = max(float(row["unsettled_oldest_s"]) for row in rows)
    if max_due > args.max_queue_due:
        failures.append("queue backlog (due pending jobs) reached %d (bound %d)" % (max_due, args.max_queue_due))
    if max_unsettled_age > args.max_unsettled_seconds:
        failures.append("a paid order waited %.0f s to be paid locally (bound %d s)" % (max_unsettled_age, args.max_unsettled_seconds))
    p95 = [float(row["latency_p95_ms"]) for row in rows if row["latency_p95_ms"]]
    last_row = rows[-1]
    parts += ["queue_live_max=%d" % max_live, "queue_due_max=%d" % max_due, "dead=%s" % last_row["jobs_dead"],
              "latency_p95_ms_median=%.0f" % (statistics.median(p95) if p95 else -1),
              "unsettled_oldest_max_s=%.0f" % max_unsettled_age]
    line = "soak: seconds=%s samples=%d orders=%s paid_sent=%s paid_local=%s %s verdict=%s" % (
        last_row["t_s"], len(rows), last_row["orders"], last_row["paid_sent"], last_row["paid_local"], " ".join(parts),
        "ok" if not failures else "FAIL")
    print(line)
    for failure in failures:
        print("soak: FAIL: " + failure)
    if args.line_file:
        with open(args.line_file, "w") as out:
            out.write(line + "\n")
    sys.exit(1 if failures else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("setup")
    p.add_argument("--api", required=True)
    p.add_argument("--sandbox", required=True)
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--paid-percent", type=int, default=50)
    p.add_argument("--prefix", default="GF")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--out", required=True)
    p.set_defaults(run=setup)
    p = commands.add_parser("proxy")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--roles", required=True)
    p.add_argument("--forge", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--signed-fraction", type=float, default=0.5, help="forgeries that carry a sign (the rest: none)")
    p.add_argument("--sign-with", help="private key for the forgeries' sign (default: a throwaway key); "
                   "the sandbox's own key makes them genuine, for a self-test of the checks")
    p.set_defaults(run=proxy)
    p = commands.add_parser("load")
    p.add_argument("--api", required=True)
    p.add_argument("--sandbox", required=True)
    p.add_argument("--rate", type=float, default=5)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--unpaid-percent", type=int, default=10)
    p.add_argument("--prefix", default="SK")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--log", required=True)
    p.add_argument("--stop-file")
    p.set_defaults(run=load)
    p = commands.add_parser("sample")
    p.add_argument("--pids", required=True, help="name=pid,name=pid")
    p.add_argument("--db", required=True)
    p.add_argument("--paid-log", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--interval", type=float, default=5)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--stop-file")
    p.set_defaults(run=sample)
    p = commands.add_parser("verdict")
    p.add_argument("--csv", required=True)
    p.add_argument("--bounded", default="receiver,worker")
    p.add_argument("--informational", default="sandbox")
    p.add_argument("--max-rss-growth-pct", type=float, default=20)
    p.add_argument("--max-fd-growth", type=int, default=16)
    p.add_argument("--max-queue-due", type=int, default=200)
    p.add_argument("--max-unsettled-seconds", type=int, default=60)
    p.add_argument("--line-file")
    p.set_defaults(run=verdict)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
