#!/usr/bin/env python3
"""`scripts/chaos multi-host`: several hosts simulated on one machine, all on one PostgreSQL.

Standard library only, plus the `openssl` command (signing the outage probes) and `psql` (the checks).
scripts/chaos starts the throwaway PostgreSQL (scripts/lib/postgres.sh), copies the binaries, then runs this:

 1. `notifyctl db migrate` once; then alipay-sandbox, and 2 notify-receiver (A, B) and 3 notify-worker started in
    the same instant (they race for the migrations' advisory lock and must all come up).
 2. N orders created through the internal API of their "home" receiver (even: A, odd: B) and opened at the sandbox
    (`POST /sandbox/trades`) with the home receiver's notify_url, then paid (login, pay) in parallel batches: the
    sandbox notifies A for half the trades and B for the other half, retrying on Alipay's (scaled) schedule.
 3. Re-deliveries: for a sample (MULTI_HOST_SAMPLE_PERCENT of the orders) the exact body the sandbox delivered (the
    receiver stores it verbatim in notifications.body) is POSTed to the OTHER receiver: it must answer `success`,
    the sandbox's delivery log must show the home receiver's `success`, and the notify_id must be stored once with
    delivery_count >= 2.
 4. Once a third of the orders are paid: kill -9 of worker 1 and receiver A. Worker 1 is not restarted (its leased
    jobs go back to the queue after the lease); receiver A is restarted on the same ports after
    MULTI_HOST_RECEIVER_DOWN_SECONDS, as systemd would, so that the sandbox's re-sends for its trades have somewhere
    to go. The payments go on meanwhile.
 5. Once two thirds are paid: a PostgreSQL crash (`pg_stop_temp DIR immediate`, then after MULTI_HOST_OUTAGE_SECONDS
    `pg_restart_temp DIR immediate`: the same as pg_restart_temp with a gap to probe in) while the last third is paid
    and notified. During the outage a few signed notifications (probes: orders opened with no notify_url, so that
    only these notify them) must be answered 503 `failure` by both receivers, and /readyz 503. After the restart no
    daemon is restarted: /readyz must come back to 200 by itself, the probes are re-sent (Alipay's retry) and must
    be answered `success`.
 6. When every notification is acknowledged and the queue is drained (bounded waits): every acknowledged notify_id
    (the sandbox's log and our own POSTs) is stored, every paid order is TRADE_SUCCESS with the sandbox's trade_no
    and exactly one TRADE_SUCCESS event, no transition is duplicated, no job is dead, the survivors are still the
    same processes, each receiver still answers /healthz on its public port, each surviving worker finished jobs
    after the restart, every daemon stops within 20 s of SIGTERM, and no daemon log contains the database password. When a check about the queue fails, the CPU use of
    every thread and (with gdb) the stacks of the suspect workers are written to the work folder.

Prints progress lines "chaos: multi-host: ..." and one summary line "multi-host: ..."; exit 1 when a check fails.
Settings (environment): MULTI_HOST_ORDERS (2000), MULTI_HOST_SAMPLE_PERCENT (20), MULTI_HOST_PROBES (5),
MULTI_HOST_BATCH (100 payments per batch), MULTI_HOST_PARALLEL (16 requests at once), MULTI_HOST_TIME_SCALE (120:
the sandbox's 4m, 10m, 10m, 1h ... retries become 2 s, 5 s, 5 s, 30 s ...), MULTI_HOST_RECEIVER_DOWN_SECONDS (5),
MULTI_HOST_OUTAGE_SECONDS (10), MULTI_HOST_DRAIN_SECONDS (900), MULTI_HOST_STALL_SECONDS (180: give up waiting when
jobs are pending or running and none finished for that long; also the re-deliveries' limit without progress), MULTI_HOST_LOG_LEVEL (info: the receivers',
workers' and notifyctl's log.level; trace shows whether the password leaks at any level), WORKER_CONCURRENCY (the
workers' default when unset).
"""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ports  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_drive import amount_of  # noqa: E402  (same folder)

CHINA = timezone(timedelta(hours=8))
SEPARATOR = "\x1f"
# Loopback only, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(message):
    print("chaos: multi-host: " + message, flush=True)


def warn(message):
    print("multi-host: " + message, file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def request(method, url, body=None, timeout=30.0):
    """(status, text) of one request; status 0 and the error when no HTTP answer came (refused, reset, timeout)."""
    data, headers = None, {}
    if isinstance(body, dict):
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    elif body is not None:
        data = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with OPENER.open(req, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        return 0, "error: %s" % error


class Daemon:
    """One process of ours, its log, and how to tell it is up."""

    def __init__(self, name, argv, env, log, health, pids_file):
        self.name, self.argv, self.env, self.log, self.health, self.pids_file = name, argv, env, log, health, pids_file
        self.proc = None
        self.handle = None

    def start(self):
        self.handle = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=self.handle,
                                     stderr=subprocess.STDOUT)
        with open(self.pids_file, "a") as pids:
            pids.write("%d %s\n" % (self.proc.pid, self.name))
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_up(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("%s exited during start-up (code %s): %s" % (self.name, self.proc.returncode, self.tail()))
            status, _ = request("GET", self.health, timeout=2)
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("%s did not answer %s within %d s: %s" % (self.name, self.health, timeout, self.tail()))

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        """SIGTERM, then SIGKILL after 20 s; False when it took the SIGKILL."""
        clean = True
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                warn("%s did not stop within 20 s of SIGTERM; SIGKILL" % self.name)
                clean = False
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.handle:
            self.handle.close()
            self.handle = None
        return clean

    def tail(self, lines=5):
        try:
            with open(self.log, errors="replace") as log:
                return " | ".join(line.rstrip() for line in log.readlines()[-lines:])
        except OSError:
            return "(no log)"


class Postgres:
    def __init__(self, pg_dir, psql, repo):
        self.dir, self.psql, self.repo = pg_dir, psql, repo
        with open(os.path.join(pg_dir, "url")) as handle:
            self.url = handle.read().strip()
        with open(os.path.join(pg_dir, "password")) as handle:
            self.password = handle.read().strip()
        parsed = urllib.parse.urlsplit(self.url)
        self.port = parsed.port
        self.database = parsed.path.lstrip("/")
        self.user = parsed.username

    def rows(self, query, timeout=60):
        """The rows of one query as lists of strings; raises when psql fails (the server down, a bad query)."""
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="5")
        out = subprocess.run(
            [self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", SEPARATOR, "-h", "127.0.0.1", "-p",
             str(self.port), "-U", self.user, "-d", self.database, "-c", query],
            env=env, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("psql: %s" % out.stderr.strip()[:300])
        return [line.split(SEPARATOR) for line in out.stdout.splitlines() if line != ""]

    def value(self, query):
        return self.rows(query)[0][0]

    def control(self, function, mode, log):
        """pg_stop_temp / pg_restart_temp DIR MODE from scripts/lib/postgres.sh; raises when it fails."""
        with open(log, "a") as handle:
            status = subprocess.run(
                ["bash", "-c", 'source "$1/scripts/lib/postgres.sh" && %s "$2" "$3"' % function, "_", self.repo,
                 self.dir, mode], stdout=handle, stderr=subprocess.STDOUT, timeout=180).returncode
        if status != 0:
            raise RuntimeError("%s %s %s failed (log: %s)" % (function, self.dir, mode, log))


def sign_notification(fields, key):
    """A notification body signed with RSA2 as Alipay signs it: sorted k=v of the non-empty fields but sign and
    sign_type, SHA256withRSA, then sign_type and sign added; percent-encoded form."""
    sign_string = "&".join("%s=%s" % (k, fields[k]) for k in sorted(fields) if fields[k] != "")
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=sign_string.encode(),
                               capture_output=True, check=True).stdout
    signed = dict(fields, sign_type="RSA2", sign=base64.b64encode(signature).decode())
    return urllib.parse.urlencode(signed, quote_via=urllib.parse.quote)


def probe_fields(trade, notify_id, seller_id):
    """The fields the sandbox puts in a TRADE_SUCCESS notification (Sources/AlipaySandbox/NotificationFields.swift)."""
    paid = str(trade["total_amount"])
    fields = {
        "notify_type": "trade_status_sync", "notify_id": notify_id,
        "notify_time": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        "app_id": trade["app_id"], "auth_app_id": trade["app_id"], "charset": "utf-8", "version": "1.0",
        "trade_no": trade["trade_no"], "out_trade_no": trade["out_trade_no"], "seller_id": seller_id,
        "seller_email": "sandbox-seller@example.com", "trade_status": "TRADE_SUCCESS", "total_amount": paid,
        "subject": trade["subject"], "gmt_create": trade["gmt_create"], "gmt_payment": trade["gmt_payment"],
        "buyer_id": trade["buyer_id"], "buyer_logon_id": trade["buyer_logon_id"], "receipt_amount": paid,
        "invoice_amount": paid, "buyer_pay_amount": paid, "point_amount": "0.00",
        "fund_bill_list": '[{"amount":"%s","fundChannel":"ALIPAYACCOUNT"}]' % paid,
    }
    return {k: str(v) for k, v in fields.items() if v is not None}


def iso_epoch(text):
    """The sandbox's ISO 8601 UTC time (with or without milliseconds) as epoch seconds."""
    text = text.replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


class Run:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.started = args.started_epoch or time.time()
        self.pg = Postgres(args.pg_dir, args.psql, args.repo)
        self.n = env_int("MULTI_HOST_ORDERS", 2000)
        self.sample_percent = env_int("MULTI_HOST_SAMPLE_PERCENT", 20)
        self.probe_count = env_int("MULTI_HOST_PROBES", 5)
        self.batch = env_int("MULTI_HOST_BATCH", 100)
        self.parallel = env_int("MULTI_HOST_PARALLEL", 16)
        self.time_scale = env_int("MULTI_HOST_TIME_SCALE", 120)
        self.down_seconds = env_int("MULTI_HOST_RECEIVER_DOWN_SECONDS", 5)
        self.outage_seconds = env_int("MULTI_HOST_OUTAGE_SECONDS", 10)
        self.drain_seconds = env_int("MULTI_HOST_DRAIN_SECONDS", 900)
        if self.n < 60:
            raise SystemExit("multi-host: MULTI_HOST_ORDERS must be at least 60")
        self.pids_file = os.path.join(self.work, "pids")
        self.lock = threading.Lock()
        self.daemons = {}
        self.acked_by_us = set()  # notify_ids our own POSTs got "success" for
        self.answers = []  # (started, finished, receiver, notify_id, status, text) of our POSTs
        self.outage = None  # (pg stopped, restart begun) epochs
        self.restarted_at = None
        self.killed = []
        self.failures = []

    # -- set-up ---------------------------------------------------------------------------------------------------

    def environment(self, extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ALIPAY_", "STORE_", "RECEIVER_", "API_", "WORKER_", "ORDERS_", "LOG_", "SANDBOX_"))}
        env.update(extra)
        return env

    def merchant(self, extra=None):
        keys = self.args.keys
        env = {
            "ALIPAY_APP_ID": self.args.app_id, "ALIPAY_SELLER_ID": self.args.seller_id,
            "ALIPAY_APP_PRIVATE_KEY_FILE": os.path.join(keys, "app.pem"),
            "ALIPAY_PUBLIC_KEY_FILE": os.path.join(keys, "alipay_public.pem"),
            "ALIPAY_GATEWAY_URL": self.sandbox + "/gateway.do",
            "STORE_URL": self.pg.url, "LOG_LEVEL": os.environ.get("MULTI_HOST_LOG_LEVEL") or "info",
            # Long enough that no order of the run times out; payments must be learnt from notifications only.
            "ORDERS_TIMEOUT_MINUTES": "240",
        }
        env.update(extra or {})
        return self.environment(env)

    def free_port(self):
        return ports.free_port()

    def receiver(self, name, public_port, api_port, log):
        d = Daemon("receiver-" + name, [os.path.join(self.args.bin, "notify-receiver")],
                   self.merchant({"RECEIVER_PORT": str(public_port), "API_PORT": str(api_port)}), log,
                   "http://127.0.0.1:%d/healthz" % public_port, self.pids_file)
        d.public = "http://127.0.0.1:%d" % public_port
        d.api = "http://127.0.0.1:%d" % api_port
        d.notify_url = d.public + "/alipay/notify"
        d.ports = (public_port, api_port)
        return d

    def worker(self, index, metrics_port):
        extra = {"WORKER_METRICS_PORT": str(metrics_port), "WORKER_LEASE_SECONDS": "20",
                 "WORKER_RECONCILE_AFTER_SECONDS": "3600", "WORKER_RETRY_MAX_SECONDS": "30"}
        if os.environ.get("WORKER_CONCURRENCY"):
            extra["WORKER_CONCURRENCY"] = os.environ["WORKER_CONCURRENCY"]
        return Daemon("worker-%d" % index, [os.path.join(self.args.bin, "notify-worker")], self.merchant(extra),
                      os.path.join(self.work, "worker-%d.log" % index), "http://127.0.0.1:%d/healthz" % metrics_port,
                      self.pids_file)

    def start(self):
        sandbox_port = self.free_port()
        self.sandbox = "http://127.0.0.1:%d" % sandbox_port
        keys = self.args.keys

        say("notifyctl db migrate (once, before the daemons)")
        with open(os.path.join(self.work, "notifyctl-migrate.log"), "w") as log:
            status = subprocess.run([os.path.join(self.args.bin, "notifyctl"), "db", "migrate"], env=self.merchant(),
                                    stdout=log, stderr=subprocess.STDOUT, timeout=120).returncode
        with open(os.path.join(self.work, "notifyctl-migrate.log")) as log:
            migrate_output = log.read().strip()
        if status != 0:
            raise RuntimeError("notifyctl db migrate exited %d: %s" % (status, migrate_output[-300:]))
        self.migrations = int(self.pg.value("SELECT count(*) FROM schema_migrations"))
        say("migrated: %s (%d migrations recorded)" % (migrate_output.replace("\n", " | ")[:200], self.migrations))

        self.daemons["sandbox"] = Daemon(
            "sandbox", [os.path.join(self.args.bin, "alipay-sandbox")],
            self.environment({"SANDBOX_PORT": str(sandbox_port), "SANDBOX_APP_ID": self.args.app_id,
                              "SANDBOX_SELLER_ID": self.args.seller_id,
                              "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": os.path.join(keys, "alipay.pem"),
                              "SANDBOX_APP_PUBLIC_KEY_FILE": os.path.join(keys, "app_public.pem"),
                              "SANDBOX_TIME_SCALE": str(self.time_scale), "LOG_LEVEL": "info"}),
            os.path.join(self.work, "sandbox.log"), self.sandbox + "/healthz", self.pids_file).start()
        self.daemons["sandbox"].wait_up(120)

        self.receivers = {
            "a": self.receiver("a", self.free_port(), self.free_port(), os.path.join(self.work, "receiver-a.log")),
            "b": self.receiver("b", self.free_port(), self.free_port(), os.path.join(self.work, "receiver-b.log")),
        }
        self.workers = [self.worker(i, self.free_port()) for i in (1, 2, 3)]
        group = [self.receivers["a"], self.receivers["b"]] + self.workers
        say("starting receivers A, B and workers 1, 2, 3 at the same instant (they race for the migration lock)")
        for d in group:
            d.start()
        for d in group:
            d.wait_up(180)
            self.daemons[d.name] = d
        applied_by_daemons = sum(open(d.log, errors="replace").read().count("applying PostgreSQL migration") for d in group)
        say("up: sandbox pid %d; %s" % (self.daemons["sandbox"].pid, ", ".join("%s pid %d" % (d.name, d.pid) for d in group)))
        if applied_by_daemons:
            self.failures.append("daemons applied %d migrations after notifyctl db migrate" % applied_by_daemons)
        if int(self.pg.value("SELECT count(*) FROM schema_migrations")) != self.migrations:
            self.failures.append("schema_migrations changed while the daemons started")

    # -- orders ---------------------------------------------------------------------------------------------------

    def plan(self):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        self.prefix = "MH%s_" % stamp
        third = self.n // 3
        orders = []
        for i in range(self.n):
            orders.append({"i": i, "no": "%s%05d" % (self.prefix, i), "home": "a" if i % 2 == 0 else "b",
                           "other": "b" if i % 2 == 0 else "a", "amount": amount_of(i),
                           "role": "sample" if (i * 37) % 100 < self.sample_percent else "plain"})
        # Probes: paid in the first third, opened with no notify_url (only our probes notify them).
        probes = [o for o in orders[1:third] if o["role"] == "plain"][: self.probe_count]
        for o in probes:
            o["role"] = "probe"
        self.orders = orders
        self.probes = probes
        self.sample = [o for o in orders if o["role"] == "sample"]
        self.segments = [orders[:third], orders[third: 2 * third], orders[2 * third:]]

    def parallel_map(self, function, items):
        errors = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            for future in concurrent.futures.as_completed([pool.submit(function, item) for item in items]):
                try:
                    future.result()
                except Exception as error:  # collected: one line each, the run fails
                    errors.append(str(error))
        return errors

    def create_and_open(self, o):
        home = self.receivers[o["home"]]
        status, text = request("POST", home.api + "/api/orders",
                               {"out_trade_no": o["no"], "total_amount": o["amount"], "subject": "multi-host %d" % o["i"]})
        if status != 201:
            raise RuntimeError("POST /api/orders %s at receiver %s: HTTP %s %s" % (o["no"], o["home"], status, text[:200]))
        trade = {"out_trade_no": o["no"], "total_amount": o["amount"], "subject": "multi-host %d" % o["i"]}
        if o["role"] != "probe":
            trade["notify_url"] = home.notify_url
        status, text = request("POST", self.sandbox + "/sandbox/trades", trade)
        if status != 201:
            raise RuntimeError("POST /sandbox/trades %s: HTTP %s %s" % (o["no"], status, text[:200]))

    def pay(self, o):
        for action in ("login", "pay"):
            status, text = request("POST", "%s/sandbox/trades/%s/%s" % (self.sandbox, o["no"], action))
            if status != 200:
                raise RuntimeError("sandbox %s of %s: HTTP %s %s" % (action, o["no"], status, text[:200]))
        if json.loads(text).get("status") != "TRADE_SUCCESS":
            raise RuntimeError("sandbox pay of %s: %s" % (o["no"], text[:200]))
        with self.lock:
            self.paid += 1

    def payer(self):
        try:
            for index, segment in enumerate(self.segments):
                if index > 0 and not self.gates[index - 1].wait(timeout=600):
                    self.pay_errors.append("segment %d: the chaos step before it never came" % index)
                    return
                for start in range(0, len(segment), self.batch):
                    self.pay_errors += self.parallel_map(self.pay, segment[start: start + self.batch])
                self.segment_paid[index].set()
        finally:
            for event in self.segment_paid:
                event.set()

    # -- re-deliveries to the other receiver ----------------------------------------------------------------------

    def post_notification(self, receiver_name, notify_id, body):
        started = time.time()
        status, text = request("POST", self.receivers[receiver_name].notify_url, body, timeout=30)
        finished = time.time()
        with self.lock:
            self.answers.append((started, finished, receiver_name, notify_id, status, text[:100]))
            if status == 200 and text == "success":
                self.acked_by_us.add(notify_id)
        return status, text

    def redeliverer(self):
        """Until every sampled notification was re-delivered, or MULTI_HOST_DRAIN_SECONDS, or MULTI_HOST_STALL_SECONDS
        without one succeeding once all orders are paid."""
        pending = {o["no"]: o for o in self.sample}
        deadline = time.monotonic() + self.drain_seconds
        stall_seconds = env_int("MULTI_HOST_STALL_SECONDS", 180)
        last_progress = time.monotonic()
        while pending and time.monotonic() < deadline and not self.stop_redelivering.is_set():
            if self.segment_paid[-1].is_set() and time.monotonic() - last_progress > stall_seconds:
                warn("re-deliveries: none succeeded for %d s; %d left" % (stall_seconds, len(pending)))
                return
            try:
                rows = self.pg.rows("SELECT out_trade_no, notify_id, body FROM notifications WHERE out_trade_no IN (%s)"
                                    % ",".join("'%s'" % no for no in pending))
            except Exception:
                rows = []  # PostgreSQL down: try again
            work = [(pending[no], notify_id, body) for no, notify_id, body in rows if no in pending]

            def one(item):
                o, notify_id, body = item
                status, text = self.post_notification(o["other"], notify_id, body)
                if status == 200 and text == "success":
                    o["notify_id"], o["redelivered"] = notify_id, True

            self.parallel_map(one, work)
            for o, _, _ in work:
                if o.get("redelivered"):
                    pending.pop(o["no"], None)
                    last_progress = time.monotonic()
            time.sleep(0.5)

    # -- chaos ----------------------------------------------------------------------------------------------------

    def kill_step(self):
        self.segment_paid[0].wait()
        worker, receiver = self.workers[0], self.receivers["a"]
        say("%d/%d paid: kill -9 %s (pid %d) and receiver-a (pid %d); payments go on" % (
            self.paid, self.n, worker.name, worker.pid, receiver.pid))
        worker.kill9()
        receiver.kill9()
        self.killed = ["worker", "receiver"]
        self.gates[0].set()
        time.sleep(self.down_seconds)
        public_port, api_port = receiver.ports
        restarted = self.receiver("a", public_port, api_port, os.path.join(self.work, "receiver-a.2.log"))
        restarted.name = "receiver-a2"
        restarted.start()
        restarted.wait_up(180)
        self.receivers["a"] = restarted
        self.daemons.pop("receiver-a", None)
        self.daemons.pop(worker.name, None)
        self.daemons["receiver-a2"] = restarted
        say("receiver-a restarted on the same ports after %d s (pid %d); worker-1 stays dead" % (self.down_seconds, restarted.pid))

    def probe_bodies(self):
        bodies = []
        day = datetime.now(CHINA)
        for k, o in enumerate(self.probes):
            status, text = request("GET", "%s/sandbox/trades/%s" % (self.sandbox, o["no"]))
            if status != 200:
                raise RuntimeError("GET /sandbox/trades/%s: HTTP %s" % (o["no"], status))
            # The sandbox's notify_id shape (day, 00222, time, 15-digit sequence), with a sequence it never reaches.
            notify_id = day.strftime("%Y%m%d") + "00222" + day.strftime("%H%M%S") + "9%014d" % k
            o["notify_id"] = notify_id
            bodies.append((o, notify_id, sign_notification(probe_fields(json.loads(text), notify_id, self.args.seller_id),
                                                            os.path.join(self.args.keys, "alipay.pem"))))
        return bodies

    def outage_step(self):
        self.segment_paid[1].wait()
        probes = self.probe_bodies()
        pg_log = os.path.join(self.work, "pg-ctl.log")
        say("%d/%d paid: PostgreSQL crash (pg_stop_temp immediate) while the last third is paid and notified" % (self.paid, self.n))
        self.pg.control("pg_stop_temp", "immediate", pg_log)
        stopped = time.time()
        self.outage = (stopped, None)
        self.gates[1].set()

        def probe(item):
            k, (o, notify_id, body) = item
            name = "ab"[k % 2]
            began = time.monotonic()
            answer = self.post_notification(name, notify_id, body)
            return name, answer, time.monotonic() - began

        def readyz(name):
            began = time.monotonic()
            status = request("GET", self.receivers[name].api + "/readyz", timeout=30)[0]
            return name, status, time.monotonic() - began

        # The probes and the readiness checks at once: each may wait for the store's connection attempts.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes) + 2) as pool:
            probe_futures = [pool.submit(probe, item) for item in enumerate(probes)]
            readyz_futures = [pool.submit(readyz, name) for name in sorted(self.receivers)]
            results = [future.result() for future in probe_futures]
            readiness = [future.result() for future in readyz_futures]
        self.probe_503 = sum(1 for _, (status, text), _ in results if status == 503 and text == "failure")
        for name, (status, text), seconds in results:
            if not (status == 503 and text == "failure"):
                warn("probe during the outage at receiver %s answered HTTP %s %r after %.1f s (expected 503 'failure')" % (
                    name, status, text, seconds))
        self.readyz_outage = {name: status for name, status, _ in readiness}
        say("outage: probes answered 503 failure %d/%d (answer times %s s); /readyz %s" % (
            self.probe_503, len(probes), ", ".join("%.1f" % seconds for _, _, seconds in results),
            ", ".join("%s=%s in %.1f s" % (name.upper(), status, seconds) for name, status, seconds in readiness)))
        remaining = stopped + self.outage_seconds - time.time()
        if remaining > 0:
            time.sleep(remaining)
        restart = time.time()
        self.outage = (stopped, restart)
        self.pg.control("pg_restart_temp", "immediate", pg_log)
        self.restarted_at = time.time()
        say("PostgreSQL up again after %.1f s down; no daemon restarted" % (self.restarted_at - stopped))

        # Everything must resume by itself.
        deadline = time.monotonic() + 120
        self.readyz_back = {}
        for name, receiver in self.receivers.items():
            while time.monotonic() < deadline:
                if request("GET", receiver.api + "/readyz", timeout=10)[0] == 200:
                    self.readyz_back[name] = time.time() - self.restarted_at
                    break
                time.sleep(0.5)
        # Alipay re-sends a notification answered "failure": so do we, to the same receiver, until "success" (each
        # probe on its own, so that a receiver that does not answer delays only its own).
        def resend(item):
            k, (o, notify_id, body) = item
            while time.monotonic() < deadline:
                status, text = self.post_notification("ab"[k % 2], notify_id, body)
                if status == 200 and text == "success":
                    return 1
                time.sleep(1)
            return 0

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes) or 1) as pool:
            self.probes_after = sum(pool.map(resend, enumerate(probes)))
        say("after the restart: /readyz 200 after %s; probes re-sent and answered success %d/%d" % (
            ", ".join("%s %.1f s" % (k.upper(), v) for k, v in sorted(self.readyz_back.items())) or "never",
            self.probes_after, len(probes)))

    # -- waiting and checking -------------------------------------------------------------------------------------

    def deliveries(self):
        status, text = request("GET", self.sandbox + "/sandbox/deliveries", timeout=120)
        if status != 200:
            raise RuntimeError("GET /sandbox/deliveries: HTTP %s" % status)
        return json.loads(text)

    def live_jobs(self):
        return int(self.pg.value("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"))

    def drain(self):
        """Waits until the sandbox has every notification acknowledged and no job is pending or running; gives up after
        MULTI_HOST_DRAIN_SECONDS, or after MULTI_HOST_STALL_SECONDS with jobs pending or running and none finishing
        (e.g. a job held by a live worker that never ends it: its lease is extended, nobody takes it over)."""
        notified = {o["no"] for o in self.orders if o["role"] != "probe"}
        started = time.monotonic()
        last_report = started
        stall_seconds = env_int("MULTI_HOST_STALL_SECONDS", 180)
        last_change, last_state = started, None
        while True:
            acked = {d["out_trade_no"] for d in self.deliveries() if d["acknowledged"] and d["kind"] == "genuine"}
            unacked = notified - acked
            live = self.live_jobs()
            if not unacked and live == 0:
                say("drained in %.0f s" % (time.monotonic() - started))
                return
            # Progress is a job that ends. With pending or running jobs (retries wait at most 30 s) and none ending
            # for stall_seconds, the workers have stopped: waiting longer shows nothing more.
            state = self.pg.value("SELECT count(*) FROM jobs WHERE state IN ('done', 'dead')")
            if state != last_state:
                last_change, last_state = time.monotonic(), state
            stalled = live > 0 and time.monotonic() - last_change > stall_seconds
            if time.monotonic() - started > self.drain_seconds or stalled:
                self.failures.append("%s after %.0f s: %d notifications not acknowledged, %d jobs pending or running%s" % (
                    "no job finished for %d s" % stall_seconds if stalled else "not drained", time.monotonic() - started,
                    len(unacked), live, self.stuck_jobs()))
                self.diagnose([d for d in self.workers if d.alive()])
                return
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                say("draining: %d notifications not acknowledged yet, %d jobs pending or running" % (len(unacked), live))
            time.sleep(2)

    def stuck_jobs(self):
        """The jobs still pending or running, with the daemon that holds them."""
        names = {str(d.pid): d.name for d in list(self.daemons.values()) + self.workers}
        rows = self.pg.rows(
            "SELECT id, kind, state, out_trade_no, attempts, coalesce(split_part(lease_owner, ':', 2), ''), created_at, "
            "lease_expires_at, updated_at FROM jobs WHERE state IN ('pending', 'running') ORDER BY id LIMIT 10")
        return "".join("; job %s %s %s %s attempts=%s owner=%s created=%s lease_expires=%s updated=%s" % (
            r[0], r[1], r[2], r[3], r[4], names.get(r[5], r[5] or "-"), r[6], r[7], r[8]) for r in rows)

    def diagnose(self, suspects):
        """Threads of each live daemon that use CPU (a spinning event loop stops its scheduled timers), and every
        thread's stack of the suspects (gdb, when installed) in the work folder."""
        def ticks():
            out = {}
            for d in self.daemons.values():
                if not d.alive():
                    continue
                try:
                    for tid in os.listdir("/proc/%d/task" % d.pid):
                        with open("/proc/%d/task/%s/stat" % (d.pid, tid)) as stat:
                            text = stat.read()
                        name = text[text.index("(") + 1: text.rindex(")")]
                        fields = text[text.rindex(")") + 2:].split()
                        out[(d.name, tid, name)] = int(fields[11]) + int(fields[12])
                except OSError:
                    pass
            return out
        before = ticks()
        time.sleep(3)
        after = ticks()
        hz = os.sysconf("SC_CLK_TCK")
        busy = ["%s thread %s %r %.0f%%" % (key[0], key[1], key[2], 100.0 * (after[key] - before[key]) / hz / 3)
                for key in after if key in before and after[key] - before[key] > 0.2 * hz * 3]
        warn("threads using more than 20%% of a CPU: %s" % (", ".join(busy) or "none"))
        gdb = shutil.which("gdb")
        for d in suspects:
            path = os.path.join(self.work, "backtrace-%s.txt" % d.name)
            if not gdb or not d.alive() or os.path.exists(path):
                continue
            with open(path, "w") as out:
                subprocess.run([gdb, "-p", str(d.pid), "-batch", "-ex", "set pagination off", "-ex", "thread apply all bt 40"],
                               stdout=out, stderr=subprocess.DEVNULL, timeout=300)
            warn("%s (pid %d): every thread's stack in %s" % (d.name, d.pid, path))

    def check(self):
        a = {}
        ours = {o["no"]: o for o in self.orders}
        trades = json.loads(request("GET", self.sandbox + "/sandbox/trades", timeout=120)[1])
        sandbox = {t["out_trade_no"]: t for t in trades if t["out_trade_no"] in ours}
        paid = {no for no, t in sandbox.items() if t["status"] in ("TRADE_SUCCESS", "TRADE_FINISHED")}
        local = {row[0]: row for row in self.pg.rows(
            "SELECT out_trade_no, status, coalesce(trade_no, ''), needs_review FROM orders WHERE out_trade_no LIKE '%s%%'"
            % self.prefix)}
        a["paid"] = len(paid)
        a["missing"] = sorted(no for no in paid if local.get(no, [None, None])[1] != "TRADE_SUCCESS")
        a["trade_no_wrong"] = sorted(no for no in paid if no in local and local[no][1] == "TRADE_SUCCESS"
                                     and local[no][2] != sandbox[no]["trade_no"])
        a["review"] = sum(1 for row in local.values() if row[3] == "t")
        events = {row[0]: int(row[1]) for row in self.pg.rows(
            "SELECT out_trade_no, count(*) FROM order_events WHERE to_status = 'TRADE_SUCCESS' GROUP BY out_trade_no")}
        a["applied_once"] = sum(1 for no in paid if events.get(no) == 1)
        a["applied_twice"] = sorted(no for no, count in events.items() if count > 1)
        a["sources"] = dict((row[0], int(row[1])) for row in self.pg.rows(
            "SELECT source, count(*) FROM order_events WHERE to_status = 'TRADE_SUCCESS' GROUP BY source"))
        a["duplicated"] = int(self.pg.value(
            "SELECT count(*) FROM (SELECT 1 FROM order_events GROUP BY out_trade_no, from_status, to_status HAVING count(*) > 1) d"))
        a["dead"] = int(self.pg.value("SELECT count(*) FROM jobs WHERE state = 'dead'"))
        a["live"] = self.live_jobs()
        a["lease_expired"] = int(self.pg.value("SELECT count(*) FROM job_attempts WHERE outcome = 'lease_expired'"))
        stored = {row[0]: (row[1], int(row[2])) for row in self.pg.rows(
            "SELECT notify_id, out_trade_no, delivery_count FROM notifications")}

        deliveries = self.deliveries()
        acked_sandbox = {d["notify_id"] for d in deliveries if d["acknowledged"] and d["kind"] == "genuine"}
        acknowledged = acked_sandbox | self.acked_by_us
        a["acknowledged"] = len(acknowledged)
        a["lost"] = sorted(acknowledged - set(stored))
        # Re-deliveries: the home receiver answered the sandbox "success", the other one answered us "success".
        home_acked = {(d["notify_id"], d["url"]) for d in deliveries if d["acknowledged"] and d["kind"] == "genuine"}
        a["redelivered"] = sum(1 for o in self.sample if o.get("redelivered"))
        a["both_success"] = sum(1 for o in self.sample if o.get("redelivered")
                                and (o["notify_id"], self.receivers[o["home"]].notify_url) in home_acked)
        a["stored_once"] = sum(1 for o in self.sample if o.get("redelivered") and o["notify_id"] in stored
                               and stored[o["notify_id"]][1] >= 2)
        # Nobody may have been answered "success" while PostgreSQL was down.
        stop, restart = self.outage or (0, 0)
        a["outage_success_ours"] = sum(1 for started, finished, _, _, status, text in self.answers
                                       if started > stop and finished < restart and status == 200 and text == "success")
        a["outage_success_sandbox"] = 0
        a["outage_refused_sandbox"] = 0
        a["answers"] = {}
        for d in deliveries:
            t0 = iso_epoch(d["time"])
            t1 = t0 + d.get("duration_ms", 0) / 1000.0
            if t0 > stop and t1 < restart:
                if d["acknowledged"]:
                    a["outage_success_sandbox"] += 1
                elif d.get("http_status") == 503:
                    a["outage_refused_sandbox"] += 1
            key = "%s:%s" % (d.get("http_status"), d["answer"][:20])
            a["answers"][key] = a["answers"].get(key, 0) + 1
        # Which surviving worker applied what after the restart.
        a["after_restart"] = {}
        if self.restarted_at:
            for owner_pid, count in self.pg.rows(
                    "SELECT split_part(owner, ':', 2), count(*) FROM job_attempts WHERE outcome = 'done' AND at > to_timestamp(%f) "
                    "GROUP BY 1" % self.restarted_at):
                a["after_restart"][owner_pid] = int(count)
        return a

    def password_lines(self):
        count = 0
        for name in sorted(os.listdir(self.work)):
            if not name.endswith(".log") or name.startswith("pg-"):
                continue
            with open(os.path.join(self.work, name), errors="replace") as log:
                for line in log:
                    if self.pg.password in line:
                        count += 1
                        if count <= 3:
                            warn("the database password appears in %s: %s" % (name, line.rstrip()[:300]))
        return count

    # -- the whole check ------------------------------------------------------------------------------------------

    def run(self):
        self.start()
        self.plan()
        say("%d orders (even: receiver A, odd: receiver B), %d re-delivered to the other receiver, %d outage probes" % (
            self.n, len(self.sample), len(self.probes)))
        errors = self.parallel_map(self.create_and_open, self.orders)
        if errors:
            raise RuntimeError("creating the orders: %d errors, first: %s" % (len(errors), errors[0]))
        say("orders created through both receivers' APIs and opened at the sandbox; paying in batches of %d" % self.batch)

        self.paid = 0
        self.pay_errors = []
        self.segment_paid = [threading.Event() for _ in self.segments]
        self.gates = [threading.Event(), threading.Event()]
        self.stop_redelivering = threading.Event()
        payer = threading.Thread(target=self.payer, daemon=True)
        redeliverer = threading.Thread(target=self.redeliverer, daemon=True)
        payer.start()
        redeliverer.start()
        try:
            self.kill_step()
            self.outage_step()
        finally:
            for gate in self.gates:
                gate.set()
        payer.join(timeout=900)
        if self.pay_errors:
            raise RuntimeError("paying: %d errors, first: %s" % (len(self.pay_errors), self.pay_errors[0]))
        say("all %d orders paid at the sandbox; waiting for the re-deliveries" % self.paid)
        redeliverer.join(timeout=self.drain_seconds + 60)
        self.drain()
        a = self.check()

        # The survivors must be the processes started before the chaos (nothing restarted after the PostgreSQL crash),
        # each receiver must still answer on its public port, each surviving worker must have gone on working after
        # the restart, and each daemon must stop on SIGTERM.
        died = [d.name for d in self.daemons.values() if not d.alive()]
        for name in died:
            self.failures.append("%s died: %s" % (name, self.daemons[name].tail()))
        deaf = [r for r in self.receivers.values() if r.alive() and request("GET", r.public + "/healthz", timeout=5)[0] != 200]
        if deaf:
            self.failures.append("%s: the public listener does not answer /healthz within 5 s" % ", ".join(r.name for r in deaf))
            self.diagnose(deaf)
        survivors = self.workers[1:]
        done_after = sum(a["after_restart"].values())
        idle = [w for w in survivors if a["after_restart"].get(str(w.pid), 0) == 0]
        if idle and (done_after >= 50 or a["live"] > 0):
            self.failures.append("%s finished no job after the PostgreSQL restart (the others finished %d; %d jobs left)" % (
                ", ".join("%s (pid %d)" % (w.name, w.pid) for w in idle), done_after, a["live"]))
            self.diagnose(idle)
        unclean = [d.name for d in self.daemons.values() if not d.stop()]
        if unclean:
            self.failures.append("%s did not stop within 20 s of SIGTERM (killed)" % ", ".join(unclean))
        a["password"] = self.password_lines()

        n_sample, n_probe = len(self.sample), len(self.probes)
        readyz_503 = "yes" if self.readyz_outage and all(s == 503 for s in self.readyz_outage.values()) else "no"
        checks = [
            (a["paid"] == self.n, "the sandbox has %d paid trades of %d" % (a["paid"], self.n)),
            (not a["missing"], "%d paid orders not TRADE_SUCCESS locally: %s" % (len(a["missing"]), a["missing"][:5])),
            (not a["trade_no_wrong"], "%d orders with another trade_no than the sandbox's: %s" % (len(a["trade_no_wrong"]), a["trade_no_wrong"][:5])),
            (a["applied_once"] == a["paid"], "%d of %d paid orders have exactly one TRADE_SUCCESS event (twice: %s)" % (
                a["applied_once"], a["paid"], a["applied_twice"][:5])),
            (a["duplicated"] == 0, "%d duplicated transitions" % a["duplicated"]),
            (a["review"] == 0, "%d orders flagged for review" % a["review"]),
            (a["redelivered"] == n_sample, "%d of %d re-deliveries answered success by the other receiver" % (a["redelivered"], n_sample)),
            (a["both_success"] == n_sample, "%d of %d re-delivered notifications also acknowledged by the home receiver" % (a["both_success"], n_sample)),
            (a["stored_once"] == n_sample, "%d of %d re-delivered notify_ids stored once with delivery_count >= 2" % (a["stored_once"], n_sample)),
            (self.probe_503 == n_probe, "outage probes answered 503 failure: %d/%d" % (self.probe_503, n_probe)),
            (readyz_503 == "yes", "/readyz during the outage: %s" % self.readyz_outage),
            (len(self.readyz_back) == 2, "/readyz back to 200 after the restart: %s" % self.readyz_back),
            (self.probes_after == n_probe, "probes answered success after the restart: %d/%d" % (self.probes_after, n_probe)),
            (a["outage_success_ours"] == 0 and a["outage_success_sandbox"] == 0,
             "answered success while PostgreSQL was down: %d of our POSTs, %d sandbox deliveries" % (
                 a["outage_success_ours"], a["outage_success_sandbox"])),
            (not a["lost"], "%d acknowledged notify_ids not stored: %s" % (len(a["lost"]), a["lost"][:5])),
            (a["dead"] == 0, "%d dead jobs" % a["dead"]),
            (a["live"] == 0, "%d jobs still pending or running" % a["live"]),
            (a["password"] == 0, "the database password appears in %d log lines" % a["password"]),
        ]
        for ok, message in checks:
            if not ok:
                self.failures.append(message)
        say("details: TRADE_SUCCESS events by source %s; lease takeovers %d; done after the PostgreSQL restart by worker pid %s;"
            " sandbox attempts refused 503 during the outage %d; sandbox answers %s" % (
                a["sources"], a["lease_expired"], a["after_restart"], a["outage_refused_sandbox"],
                ", ".join("%s=%d" % item for item in sorted(a["answers"].items()))))
        for failure in self.failures:
            warn("FAIL: " + failure)
        print("multi-host: orders=%d paid=%d applied_once=%d duplicated_transitions=%d redelivered=%d/%d stored_once=%d "
              "killed=%s receiver_restarted=yes pg_restart_503=%d/%d readyz_503=%s success_during_outage=%d "
              "workers_working_after_restart=%d/%d receivers_answering=%d/%d acknowledged=%d lost=%d dead_jobs=%d "
              "password_in_logs=%d seconds=%d%s" % (
                  self.n, a["paid"], a["applied_once"], a["duplicated"], a["redelivered"], n_sample, a["stored_once"],
                  ",".join(self.killed) or "none", self.probe_503, n_probe, readyz_503,
                  a["outage_success_ours"] + a["outage_success_sandbox"], len(survivors) - len(idle), len(survivors),
                  len(self.receivers) - len(deaf), len(self.receivers),
                  a["acknowledged"], len(a["lost"]), a["dead"],
                  a["password"], time.time() - self.started, "" if not self.failures else " FAILED"), flush=True)
        return 0 if not self.failures else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="folder for logs and the pids file")
    parser.add_argument("--bin", required=True, help="folder holding the four executables (copies)")
    parser.add_argument("--pg-dir", required=True, help="the folder of pg_start_temp")
    parser.add_argument("--psql", default="psql")
    parser.add_argument("--repo", required=True, help="the repository (for scripts/lib/postgres.sh)")
    parser.add_argument("--keys", required=True, help="make_test_keys folder: app.pem, app_public.pem, alipay.pem, alipay_public.pem")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--seller-id", required=True)
    parser.add_argument("--started-epoch", type=float, default=0)
    args = parser.parse_args()
    run = Run(args)
    try:
        status = run.run()
    except Exception as error:
        warn("FAIL: %s" % error)
        print("multi-host: FAILED (%s) seconds=%d" % (str(error)[:200], time.time() - run.started), flush=True)
        status = 1
    finally:
        for d in list(run.daemons.values()) + list(getattr(run, "receivers", {}).values()) + list(getattr(run, "workers", [])):
            try:
                d.stop()
            except Exception:
                pass
    sys.exit(status)


if __name__ == "__main__":
    main()
