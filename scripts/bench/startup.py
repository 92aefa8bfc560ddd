#!/usr/bin/env python3
"""Start-up-to-ready time of each daemon, as systemd sees it: from exec to the READY=1 datagram on NOTIFY_SOCKET.

Usage: startup.py --bin-dir DIR --keys DIR --work DIR [--runs 5] [--json FILE]
Each daemon starts once untimed (it creates and migrates the database, the page cache warms), then --runs times timed
against the existing database, as on a restart; each run ends with SIGTERM, and the time to exit is recorded too.
Prints a table and one JSON line; standard library only.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from ports import free_port  # noqa: E402


def vm_value(pid, key):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def environment(name, keys, work):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "LOG_LEVEL": "warning"}
    if name == "alipay-sandbox":
        base.update({
            "SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": str(free_port()), "SANDBOX_APP_ID": "2021000000000001",
            "SANDBOX_SELLER_ID": "2088000000000001", "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": f"{keys}/alipay.pem",
            "SANDBOX_APP_PUBLIC_KEY_FILE": f"{keys}/app_public.pem",
        })
        return base
    base.update({
        "ALIPAY_APP_ID": "2021000000000001", "ALIPAY_SELLER_ID": "2088000000000001",
        "ALIPAY_APP_PRIVATE_KEY_FILE": f"{keys}/app.pem", "ALIPAY_PUBLIC_KEY_FILE": f"{keys}/alipay_public.pem",
        "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do", "STORE_PATH": f"{work}/var/startup.sqlite",
    })
    if name == "notify-receiver":
        base.update({"RECEIVER_PORT": str(free_port()), "API_PORT": str(free_port())})
    else:  # notify-worker, with its metrics listener on as in production
        base.update({"WORKER_METRICS_PORT": str(free_port())})
    return base


def start_once(path, env, work, timeout=60.0):
    """One start: seconds to READY=1, KiB resident at READY (VmHWM), seconds from SIGTERM to exit, exit status."""
    socket_path = f"{work}/notify.sock"
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(socket_path)
    listener.settimeout(timeout)
    env = dict(env, NOTIFY_SOCKET=socket_path)
    with open(f"{work}/{os.path.basename(path)}.log", "ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen([path], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            ready = None
            deadline = started + timeout
            while ready is None:
                listener.settimeout(max(0.01, deadline - time.perf_counter()))
                try:
                    message = listener.recv(4096).decode(errors="replace")
                except socket.timeout:
                    raise SystemExit(f"startup: {path} sent no READY=1 within {timeout:.0f} s (see {work}/{os.path.basename(path)}.log)")
                if "READY=1" in message.splitlines():
                    ready = time.perf_counter() - started
            rss = vm_value(process.pid, "VmHWM")
            stop_started = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=30)
            stopped = time.perf_counter() - stop_started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            listener.close()
            os.unlink(socket_path)
    return ready, rss, stopped, status


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    os.makedirs(f"{args.work}/var", exist_ok=True)

    results = {}
    for name in ("notify-receiver", "notify-worker", "alipay-sandbox"):
        path = os.path.join(args.bin_dir, name)
        start_once(path, environment(name, args.keys, args.work), args.work)  # untimed: creates the database, warms caches
        runs = [start_once(path, environment(name, args.keys, args.work), args.work) for _ in range(args.runs)]
        failed = [status for (_, _, _, status) in runs if status != 0]
        if failed:
            print(f"startup: {name} exited with {failed} after SIGTERM", file=sys.stderr)
        results[name] = {
            "ready_ms": round(1000 * statistics.median(r[0] for r in runs), 1),
            "ready_ms_runs": [round(1000 * r[0], 1) for r in runs],
            "rss_at_ready_kb": int(statistics.median(r[1] for r in runs)),
            "stop_ms": round(1000 * statistics.median(r[2] for r in runs), 1),
            "exit_statuses": sorted(set(r[3] for r in runs)),
            "runs": args.runs,
        }
    print("%-16s %12s %14s %10s" % ("daemon", "ready (ms)", "RSS at ready", "stop (ms)"))
    for name, r in results.items():
        print("%-16s %12.1f %10.1f MiB %10.1f" % (name, r["ready_ms"], r["rss_at_ready_kb"] / 1024, r["stop_ms"]))
    print(f"startup: medians of {args.runs} starts each, exec to READY=1 on NOTIFY_SOCKET; stop is SIGTERM to exit")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out)
    print("startup summary: " + json.dumps(results))


if __name__ == "__main__":
    main()
