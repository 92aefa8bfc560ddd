#!/usr/bin/env python3
"""Alipay's side of the disaster-recovery drills: signed notifications sent at a steady rate, re-sent until answered.

Usage: notify_load.py orders --api URL --bodies FILE               create each body's order (POST /api/orders)
       notify_load.py send --receiver URL --bodies FILE --out CSV [--rate 200] [--concurrency 16] [--retry-after 1]
                           [--timeout 35]
`send` POSTs every body to URL/alipay/notify at RATE per second with CONCURRENCY connections, like Alipay: a body
not answered `success` (503 `failure`, no connection, a timeout) is sent again RETRY-AFTER seconds later, until it is.
It writes one CSV line per attempt: unix time of the answer, notify_id, HTTP status (0: no answer), answer, unix
time it was sent. Stops
when every body was acknowledged, or on SIGTERM. Standard library only.
"""
import argparse, csv, http.client, json, queue, signal, sys, threading, time, urllib.parse

signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def notify_id(body):
    return urllib.parse.parse_qs(body)["notify_id"][0]


def post(connection, path, body, content_type):
    connection.request("POST", path, body=body.encode(), headers={"Content-Type": content_type})
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace").strip()


def orders(args):
    bodies = [line.strip() for line in open(args.bodies) if line.strip()]
    url = urllib.parse.urlsplit(args.api)
    work = queue.Queue()
    for body in bodies:
        work.put(urllib.parse.parse_qs(body)["out_trade_no"][0])
    failures = []

    def worker():
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                return
            status, answer = post(connection, "/api/orders", json.dumps({"out_trade_no": number, "total_amount": "88.88", "subject": "DR drill"}), "application/json")
            if status != 201:
                failures.append(f"{number}: {status} {answer[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    if failures:
        sys.exit(f"notify_load: {len(failures)} orders not created, first: {failures[0]}")


def send(args):
    bodies = [line.strip() for line in open(args.bodies) if line.strip()]
    url = urllib.parse.urlsplit(args.receiver)
    due = queue.PriorityQueue()
    start = time.time()
    for index, body in enumerate(bodies):
        due.put((start + index / args.rate, index, body))
    acknowledged = set()
    lock = threading.Lock()
    out = open(args.out, "w", newline="")
    writer = csv.writer(out)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def worker():
        connection = None
        while not stop.is_set():
            with lock:
                if len(acknowledged) == len(bodies):
                    return
            try:
                at, index, body = due.get(timeout=0.2)
            except queue.Empty:
                continue
            wait = at - time.time()
            if wait > 0:
                time.sleep(wait)
            sent = time.time()
            try:
                connection = connection or http.client.HTTPConnection(url.hostname, url.port, timeout=args.timeout)
                status, answer = post(connection, "/alipay/notify", body, "application/x-www-form-urlencoded; charset=utf-8")
            except (OSError, http.client.HTTPException) as error:
                status, answer = 0, type(error).__name__
                connection = None
            with lock:
                writer.writerow([f"{time.time():.3f}", notify_id(body), status, answer[:80], f"{sent:.3f}"])
                if status == 200 and answer == "success":
                    acknowledged.add(index)
                    continue
            due.put((time.time() + args.retry_after, index, body))

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    out.close()
    print(json.dumps({"bodies": len(bodies), "acknowledged": len(acknowledged), "seconds": round(time.time() - start, 1)}))


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
commands = parser.add_subparsers(dest="command", required=True)
o = commands.add_parser("orders")
o.add_argument("--api", required=True)
o.add_argument("--bodies", required=True)
s = commands.add_parser("send")
s.add_argument("--receiver", required=True)
s.add_argument("--bodies", required=True)
s.add_argument("--out", required=True)
s.add_argument("--rate", type=float, default=200)
s.add_argument("--concurrency", type=int, default=16)
s.add_argument("--retry-after", type=float, default=1)
s.add_argument("--timeout", type=float, default=35)
args = parser.parse_args()
{"orders": orders, "send": send}[args.command](args)
