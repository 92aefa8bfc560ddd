#!/usr/bin/env python3
"""Driver of scripts/bench/drain: one timed drain of N queued notifications by W notify-worker processes.

Usage: drain.py sign --key ALIPAY_PRIVATE_KEY.pem [--app-id ID] [--seller-id ID] --count N --prefix P --out BODIES.txt
       drain.py run --bin-dir DIR --store-url URL --keys DIR --bodies BODIES.txt --prefix P --workers W --logs DIR
                    [--concurrency 8] [--psql PATH] [--postmaster-pid PID] [--timeout 600] [--statements]
`sign` writes N signed TRADE_SUCCESS notifications (signed as receiver_load.py does; out_trade_no P + index, 88.88,
the given app_id and seller_id), one body a line. `run`, on a fresh store: starts notify-receiver; creates the N orders
through POST /api/orders (32 connections); POSTs the N notifications (64 connections, every answer must be `success`);
stops the receiver (no worker has run: every notification waits in the queue as a pending job); then starts W
notify-worker processes at once and times from their exec until no job is pending or running (polled every 20 ms over
one connection, through the partial indexes of live jobs); stops them (SIGTERM, exit 0 expected) and checks: N orders TRADE_SUCCESS, N done jobs, no dead job,
exactly one TRADE_SUCCESS event per order. Prints one JSON line. Standard library only.
"""
import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_usage  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from ports import free_port  # noqa: E402
import receiver_load  # noqa: E402

APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
AMOUNT = "88.88"


# MARK: signing

def _sign_range(arguments):
    key, app_id, seller_id, prefix, start, stop = arguments
    signer = receiver_load.make_signer(key)
    run_id = str(int(time.time()))
    lines = []
    for index in range(start, stop):
        params = {
            "notify_time": "2025-01-31 16:15:00", "notify_type": "trade_status_sync",
            "notify_id": f"drain-{run_id}-{index}", "app_id": app_id, "charset": "utf-8", "version": "1.0",
            "trade_no": f"20250131220014{index:014d}", "out_trade_no": f"{prefix}{index}",
            "trade_status": "TRADE_SUCCESS", "total_amount": AMOUNT, "receipt_amount": AMOUNT,
            "seller_id": seller_id, "buyer_id": "2088102177846880", "subject": "Bench order",
            "gmt_payment": "2025-01-31 16:14:59",
            "fund_bill_list": '[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]',
        }
        signature = base64.b64encode(signer(receiver_load.sign_string(params).encode())).decode()
        params["sign_type"] = "RSA2"
        params["sign"] = signature
        lines.append(urllib.parse.urlencode(params, quote_via=urllib.parse.quote))
    return lines


def sign(args):
    processes = os.cpu_count() or 1
    step = (args.count + processes - 1) // processes
    parts = [(args.key, args.app_id, args.seller_id, args.prefix, start, min(args.count, start + step))
             for start in range(0, args.count, step)]
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(_sign_range, parts)
    with open(args.out, "w") as out:
        for lines in results:
            for line in lines:
                out.write(line + "\n")


# MARK: the store, read over one connection

class Store:
    """Counts in the store: Python's sqlite3 on the file, or one long-lived psql session for PostgreSQL."""

    def __init__(self, url, psql):
        self.url = url
        if url.startswith("sqlite:"):
            self.path = url[len("sqlite:"):]
            self.sqlite = None
            self.psql = None
        else:
            self.sqlite = None
            self.psql = subprocess.Popen([psql, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=0", url],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def rows(self, sql):
        if self.psql is None:
            if self.sqlite is None:
                self.sqlite = sqlite3.connect(self.path, timeout=30)  # reads only; autocommit reads hold no lock after each
            return [tuple(str(v) for v in row) for row in self.sqlite.execute(sql).fetchall()]
        self.psql.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo __END__\n")
        self.psql.stdin.flush()
        rows = []
        while True:
            line = self.psql.stdout.readline()
            if line == "":
                raise RuntimeError("psql ended")
            if line.rstrip("\n") == "__END__":
                return rows
            if line.strip():
                rows.append(tuple(line.rstrip("\n").split("|")))

    def one(self, sql):
        rows = self.rows(sql)
        return int(rows[0][0]) if rows and rows[0][0] not in ("", None) else 0

    def close(self):
        if self.sqlite is not None:
            self.sqlite.close()
            self.sqlite = None
        if self.psql is not None:
            self.psql.stdin.close()
            self.psql.wait()
            self.psql = None


# MARK: HTTP load

async def _post_orders(port, count, prefix, connections, counts):
    cursor = [0]

    async def lane():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while cursor[0] < count:
                index = cursor[0]
                cursor[0] += 1
                body = json.dumps({"out_trade_no": f"{prefix}{index}", "total_amount": AMOUNT, "subject": "Bench order"}).encode()
                request = (f"POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                status, answer = await receiver_load.exchange(reader, writer, request)
                if status == b"201":
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    if len(counts["errors"]) < 5:
                        counts["errors"].append(status.decode("latin-1") + " " + answer[:200].decode("utf-8", "replace"))
        finally:
            writer.close()

    await asyncio.gather(*(lane() for _ in range(connections)))


async def _post_notifications(port, bodies, connections, counts):
    cursor, latencies = [0], []
    await asyncio.gather(*(receiver_load.worker("127.0.0.1", port, "/alipay/notify", bodies, cursor, latencies, counts)
                           for _ in range(connections)))


def _wait_http(url, seconds, process):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {seconds} s")


def _peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _log_problems(path, limit=8):
    """(lines, [first lines at warning level or above]) of a daemon's stderr log."""
    problems, total = [], 0
    try:
        with open(path, errors="replace") as handle:
            for line in handle:
                total += 1
                lower = line.lower()
                if any(word in lower for word in ("warning", "error", "critical", "fatal")) and len(problems) < limit:
                    problems.append(line.rstrip()[:400])
    except OSError:
        pass
    return total, problems


def run(args):
    keys = args.keys
    base_env = dict(os.environ)
    # The caller's own settings stay out of the run (a stray STORE_URL), except the page cache, which is what a run
    # may compare (STORE_CACHE_MEGABYTES=16 scripts/bench/drain …).
    for name in [n for n in base_env if n.startswith(("STORE_", "WORKER_", "ALIPAY_", "RECEIVER_", "API_"))]:
        if name != "STORE_CACHE_MEGABYTES":
            del base_env[name]
    base_env.update({
        "ALIPAY_APP_ID": APP_ID, "ALIPAY_SELLER_ID": SELLER_ID,
        "ALIPAY_APP_PRIVATE_KEY_FILE": os.path.join(keys, "app.pem"),
        "ALIPAY_PUBLIC_KEY_FILE": os.path.join(keys, "alipay_public.pem"),
        "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do",  # never called: every notification applies on its own
        "STORE_URL": args.store_url, "LOG_LEVEL": "warning",
    })
    os.makedirs(args.logs, exist_ok=True)
    with open(args.bodies, "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()]
    count = len(bodies)
    result = {"store": "sqlite" if args.store_url.startswith("sqlite:") else "postgres", "workers": args.workers,
              "concurrency": args.concurrency, "notifications": count}

    # 1. The receiver: orders, then notifications, no worker running.
    port, api_port = free_port(), free_port()
    receiver_env = dict(base_env, RECEIVER_HOST="127.0.0.1", RECEIVER_PORT=str(port), API_HOST="127.0.0.1", API_PORT=str(api_port),
                        ALIPAY_NOTIFY_URL=f"http://127.0.0.1:{port}/alipay/notify")
    with open(os.path.join(args.logs, "receiver.log"), "w") as log:
        receiver = subprocess.Popen([os.path.join(args.bin_dir, "notify-receiver")], env=receiver_env, stdout=log, stderr=log)
    try:
        _wait_http(f"http://127.0.0.1:{api_port}/readyz", 60, receiver)
        started = time.perf_counter()
        orders = {"ok": 0, "failed": 0, "errors": []}
        asyncio.run(_post_orders(api_port, count, args.prefix, 32, orders))
        result["orders_seconds"] = round(time.perf_counter() - started, 2)
        if orders["failed"]:
            raise RuntimeError(f"POST /api/orders: {orders['failed']} of {count} failed, e.g. {orders['errors']}")
        started = time.perf_counter()
        notified = {"ok": 0, "failed": 0}
        asyncio.run(_post_notifications(port, bodies, 64, notified))
        result["notify_seconds"] = round(time.perf_counter() - started, 2)
        if notified["failed"] or notified["ok"] != count:
            raise RuntimeError(f"POST /alipay/notify: {notified['ok']} success, {notified['failed']} failed of {count}")
    finally:
        receiver.send_signal(signal.SIGTERM)
        result["receiver_exit"] = receiver.wait(timeout=60)
    result["receiver_log_lines"], result["receiver_log_problems"] = _log_problems(os.path.join(args.logs, "receiver.log"))

    store = Store(args.store_url, args.psql)
    try:
        pending = store.one("SELECT count(*) FROM jobs WHERE state = 'pending' AND kind = 'notification'")
        if pending != count:
            raise RuntimeError(f"{pending} pending notification jobs before the drain, expected {count}")
        if result["store"] == "postgres":
            store.rows("CHECKPOINT")  # the drain does not pay for writing out the seeding's dirty pages
            store.rows("ANALYZE")  # planner statistics, as autoanalyze keeps them on a live queue (not left to chance)
            if args.statements:
                store.rows("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                store.rows("SELECT pg_stat_statements_reset()")

        # 2. W workers at once, timed from their exec until no job is pending or running.
        worker_env = dict(base_env, WORKER_CONCURRENCY=str(args.concurrency), WORKER_POLL_MILLISECONDS="5",
                          WORKER_METRICS_PORT="0", WORKER_RECONCILE_AFTER_SECONDS="3600", WORKER_SWEEP_INTERVAL_SECONDS="3600",
                          RECEIVER_PORT="9", API_PORT="9")
        groups = {}
        if args.postmaster_pid:
            groups["postgres"] = ("children", args.postmaster_pid)
        before = cpu_usage.snapshot(groups)
        workers, logs = [], []
        started = time.perf_counter()
        for index in range(args.workers):
            path = os.path.join(args.logs, f"worker-{index + 1}.log")
            logs.append(path)
            with open(path, "w") as log:
                workers.append(subprocess.Popen([os.path.join(args.bin_dir, "notify-worker")], env=worker_env, stdout=log, stderr=log))
        deadline = time.monotonic() + args.timeout
        waits = {}  # --statements: what the workers' busy backends were doing at each poll
        while True:
            if args.statements:
                # Active: on the CPU (no wait event) or waiting on the named event; idle in transaction: waiting for
                # the worker's next statement of a unit of work (a round trip).
                for row in store.rows("SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'active, CPU') "
                                      "ELSE state END, count(*) "
                                      "FROM pg_stat_activity WHERE state IN ('active', 'idle in transaction') AND backend_type = 'client backend' "
                                      "AND pid <> pg_backend_pid() AND datname = current_database() GROUP BY 1"):
                    waits[row[0]] = waits.get(row[0], 0) + int(row[1])
            # Cheap, so that the poller takes next to nothing from the cores it shares: one look into the partial
            # indexes of live jobs (a count over the whole table every 20 ms would cost PostgreSQL a few percent).
            if store.one("SELECT CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE state = 'pending') "
                         "OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running') THEN 1 ELSE 0 END") == 0:
                break
            if any(worker.poll() is not None for worker in workers):
                raise RuntimeError(f"a worker exited during the drain ({[w.returncode for w in workers]}); logs {logs}")
            if time.monotonic() > deadline:
                finished = store.one("SELECT count(*) FROM jobs WHERE state IN ('done', 'dead')")
                raise RuntimeError(f"only {finished} of {count} jobs finished within {args.timeout} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        groups["workers"] = [worker.pid for worker in workers]
        after = cpu_usage.snapshot(groups)
        before["ticks"]["workers"] = {}
        result["seconds"] = round(seconds, 3)
        result["applies_per_second"] = round(count / seconds, 1)
        cpu = cpu_usage.difference(before, after)
        result["cores"] = {k: round(cpu[k] / cpu["wall_seconds"], 2) for k in ("workers", "postgres", "machine_busy") if k in cpu}
        result["worker_peak_rss_kb"] = max(_peak_rss_kb(worker.pid) for worker in workers)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        result["worker_exits"] = [worker.wait(timeout=60) for worker in workers]

        if args.statements:
            # What the workers sent (the poller's own count and psql's statements left out): statements per apply,
            # and the time the server spent executing them against the wall time of the drain.
            rows = store.rows(
                "SELECT sum(calls), round(sum(total_exec_time)::numeric, 1), round(sum(total_plan_time)::numeric, 1), q FROM ("
                "  SELECT calls, total_exec_time, total_plan_time, regexp_replace(regexp_replace(left(query, 70), '\\s+', ' ', 'g'), 'sp_[0-9]+', 'sp_N', 'g') AS q"
                "  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                "  AND query NOT LIKE 'SELECT CASE WHEN EXISTS%' AND query NOT LIKE '%pg_stat_statements%'"
                "  AND query NOT LIKE '%pg_stat_activity%') s "
                "GROUP BY q ORDER BY 1 DESC")
            calls = sum(int(r[0]) for r in rows)
            exec_ms = sum(float(r[1]) for r in rows)
            plan_ms = sum(float(r[2]) for r in rows)
            result["active_backends"] = dict(sorted(waits.items(), key=lambda item: -item[1]))
            result["statements"] = {"calls": calls, "per_apply": round(calls / count, 2), "server_exec_seconds": round(exec_ms / 1000, 2),
                                    "server_plan_seconds": round(plan_ms / 1000, 2),
                                    "top": [{"calls": int(r[0]), "exec_ms": float(r[1]), "plan_ms": float(r[2]), "query": "|".join(r[3:])}
                                            for r in rows[:12]]}

        # 3. Correctness.
        states = dict((row[0], int(row[1])) for row in store.rows("SELECT state, count(*) FROM jobs GROUP BY state"))
        result["jobs"] = states
        result["orders_paid"] = store.one("SELECT count(*) FROM orders WHERE status = 'TRADE_SUCCESS'")
        result["paid_events"] = store.one("SELECT count(*) FROM order_events WHERE to_status = 'TRADE_SUCCESS'")
        result["attempts"] = dict((row[0], int(row[1])) for row in store.rows("SELECT outcome, count(*) FROM job_attempts GROUP BY outcome"))
        result["max_attempts"] = store.one("SELECT max(attempts) FROM jobs")
    finally:
        store.close()
    problems = []
    for index, path in enumerate(logs):
        lines, found = _log_problems(path)
        result.setdefault("worker_log_lines", []).append(lines)
        problems += [f"worker-{index + 1}: {line}" for line in found]
    result["worker_log_problems"] = problems[:12]
    result["correct"] = (result["orders_paid"] == count and states.get("done", 0) == count and states.get("dead", 0) == 0
                         and result["paid_events"] == count and all(code == 0 for code in result["worker_exits"]))
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    signing = commands.add_parser("sign")
    signing.add_argument("--key", required=True)
    signing.add_argument("--app-id", default=APP_ID)
    signing.add_argument("--seller-id", default=SELLER_ID)
    signing.add_argument("--count", type=int, required=True)
    signing.add_argument("--prefix", required=True)
    signing.add_argument("--out", required=True)
    running = commands.add_parser("run")
    running.add_argument("--bin-dir", required=True)
    running.add_argument("--store-url", required=True)
    running.add_argument("--keys", required=True)
    running.add_argument("--bodies", required=True)
    running.add_argument("--prefix", required=True)
    running.add_argument("--workers", type=int, required=True)
    running.add_argument("--concurrency", type=int, default=8)
    running.add_argument("--psql", default="psql")
    running.add_argument("--postmaster-pid", type=int)
    running.add_argument("--logs", required=True)
    running.add_argument("--timeout", type=float, default=600)
    running.add_argument("--statements", action="store_true", help="PostgreSQL: count the workers' statements (pg_stat_statements)")
    args = parser.parse_args()
    if args.command == "sign":
        sign(args)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
