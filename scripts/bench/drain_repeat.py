#!/usr/bin/env python3
"""One worker draining the same queue again and again: for trying a change to the worker in seconds, not minutes.

Usage: scripts/bench/drain_repeat.py --from BENCH_OUT --work DIR [--bin-dir DIR] [--count N] [--trials T] [--perf] [NAME=VALUE ...]

`--from` is a folder a run of scripts/bench/drain left (BENCH_OUT=DIR …): its `keys/` and signed `bodies.txt` are
used. The first run seeds a store once, as scripts/bench/drain does (notify-receiver: N orders through the internal
API, N notifications POSTed, receiver stopped, WAL checkpointed) and keeps it as DIR/seed.sqlite; every trial then
drains a fresh copy of it with one notify-worker (the drain bench's settings, but the sweeper held off for ten days so
that an aging seed stays alike; STORE_CACHE_MEGABYTES passes through; NAME=VALUE pairs are added to its environment)
and prints applies/s, the worker's cores and its peak RSS. A trial that does not end with every notification job done
exits 1. `--perf`: each trial also records
`perf record --call-graph dwarf` of the worker for 4 s, one second in, to DIR/perf.data.

scripts/bench/drain stays the benchmark of record (seeding included, both engines, checks); this is its inner loop.
Standard library only.
"""
import argparse
import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drain  # noqa: E402
from drain import free_port  # noqa: E402


def environment(keys, store_url, extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STORE_", "WORKER_", "ALIPAY_", "RECEIVER_", "API_")) or k == "STORE_CACHE_MEGABYTES"}
    env.update({
        "ALIPAY_APP_ID": drain.APP_ID, "ALIPAY_SELLER_ID": drain.SELLER_ID,
        "ALIPAY_APP_PRIVATE_KEY_FILE": os.path.join(keys, "app.pem"),
        "ALIPAY_PUBLIC_KEY_FILE": os.path.join(keys, "alipay_public.pem"),
        "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do", "LOG_LEVEL": "warning", "STORE_URL": store_url,
    })
    env.update(extra)
    return env


def seed(args, keys, path):
    with open(os.path.join(args.source, "bodies.txt"), "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()][:args.count]
    if len(bodies) < args.count:
        raise SystemExit(f"drain_repeat: {args.source}/bodies.txt holds {len(bodies)} bodies, fewer than --count {args.count}")
    port, api_port = free_port(), free_port()
    env = environment(keys, f"sqlite:{path}", {"RECEIVER_PORT": str(port), "API_PORT": str(api_port)})
    receiver = subprocess.Popen([os.path.join(args.bin_dir, "notify-receiver")], env=env)
    try:
        drain._wait_http(f"http://127.0.0.1:{api_port}/readyz", 60, receiver)
        orders = {"ok": 0, "failed": 0, "errors": []}
        asyncio.run(drain._post_orders(api_port, args.count, "DRAIN", 32, orders))
        notified = {"ok": 0, "failed": 0}
        asyncio.run(drain._post_notifications(port, bodies, 64, notified))
        if orders["failed"] or notified["ok"] != args.count:
            raise SystemExit(f"drain_repeat: seeding failed: orders {orders}, notifications {notified}")
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=60)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"drain_repeat: seeded {args.count} orders and notifications", flush=True)


def trial(args, keys, seed_path, number):
    run = os.path.join(args.work, f"run-{number}")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    path = os.path.join(run, "store.sqlite")
    shutil.copy(seed_path, path)
    env = environment(keys, f"sqlite:{path}", {
        "WORKER_CONCURRENCY": "8", "WORKER_POLL_MILLISECONDS": "5", "WORKER_METRICS_PORT": "0",
        # The seed ages between trials: with the drain bench's hour, unpaid orders would soon get reconcile and close
        # jobs from the sweeper and the trials stop being alike. Ten days keeps it out.
        "WORKER_RECONCILE_AFTER_SECONDS": "864000", "ORDERS_TIMEOUT_MINUTES": "14400", "WORKER_SWEEP_INTERVAL_SECONDS": "3600",
        "RECEIVER_PORT": "9", "API_PORT": "9",
        **args.extra})
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    started = time.perf_counter()
    worker = subprocess.Popen([os.path.join(args.bin_dir, "notify-worker")], env=env)
    perf = None
    if args.perf:
        time.sleep(1)
        perf = subprocess.Popen(
            ["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", os.path.join(args.work, "perf.data"), "-p",
             str(worker.pid), "--", "sleep", "4"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while db.execute("SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'pending') OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running')").fetchone()[0]:
        if worker.poll() is not None:
            raise SystemExit(f"drain_repeat: the worker exited with {worker.returncode} during the drain")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    with open(f"/proc/{worker.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = drain._peak_rss_kb(worker.pid)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    if perf:
        perf.wait()
    done = db.execute("SELECT count(*) FROM jobs WHERE state = 'done' AND kind = 'notification'").fetchone()[0]
    db.close()
    shutil.rmtree(run, ignore_errors=True)
    print(f"trial {number}: {args.count / seconds:,.0f} applies/s  {seconds:.2f} s  worker {cpu / seconds:.2f} cores  "
          f"peak RSS {rss // 1024} MiB  done {done} of {args.count}", flush=True)
    if done != args.count:
        raise SystemExit(f"drain_repeat: trial {number} ended with {done} of {args.count} notification jobs done")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="a BENCH_OUT folder of scripts/bench/drain")
    parser.add_argument("--work", required=True)
    parser.add_argument("--bin-dir", default=os.path.join(os.getcwd(), ".build-release", "release"))
    parser.add_argument("--count", type=int, default=100000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--perf", action="store_true")
    parser.add_argument("extra", nargs="*", help="NAME=VALUE added to the worker's environment")
    args = parser.parse_args()
    args.extra = dict(pair.split("=", 1) for pair in args.extra)
    os.makedirs(args.work, exist_ok=True)
    keys = os.path.join(args.source, "keys")
    seed_path = os.path.join(args.work, "seed.sqlite")
    if not os.path.exists(seed_path):
        seeding = os.path.join(args.work, "seeding", "store.sqlite")
        shutil.rmtree(os.path.dirname(seeding), ignore_errors=True)
        os.makedirs(os.path.dirname(seeding))
        seed(args, keys, seeding)
        os.replace(seeding, seed_path)  # only a complete seed is kept
        shutil.rmtree(os.path.dirname(seeding))
    for number in range(1, args.trials + 1):
        trial(args, keys, seed_path, number)


if __name__ == "__main__":
    sys.exit(main())
