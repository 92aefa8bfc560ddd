#!/usr/bin/env python3
"""A merchant application in ~40 lines, for the demo: receives alipay-notify's order events and checks them.

Usage: merchant_app.py PORT SECRET_FILE LOG_FILE
It verifies each delivery as Standard Webhooks v1 says (HMAC-SHA256 of "id.timestamp.body" with the whsec_ secret,
timestamp within 5 minutes, constant-time compare; Python's standard library only, so it runs anywhere), drops a
webhook-id it has seen, and appends one line per event to LOG_FILE. In a real application use the reference
library instead: `pip install standardwebhooks` (docs/webhooks.md).
"""
import base64, hashlib, hmac, http.server, json, signal, sys, time

# A parent may have started us with signals blocked (a test runner's thread): SIGTERM and SIGINT must stop us.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

if len(sys.argv) != 4 or sys.argv[1] in ("-h", "--help"):
    print(__doc__.strip()); sys.exit(0 if len(sys.argv) == 2 else 2)
port, secret_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seen = set()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        key = base64.b64decode(open(secret_file).read().strip().removeprefix("whsec_"))
        msg_id, timestamp = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "0")
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
        signatures = [s.split(",", 1)[1] for s in self.headers.get("webhook-signature", "").split() if s.startswith("v1,")]
        fresh = abs(time.time() - int(timestamp)) <= 300
        if not fresh or not any(hmac.compare_digest(expected, s) for s in signatures):
            self.send_response(400); self.end_headers(); return
        if msg_id not in seen:
            seen.add(msg_id)
            event = json.loads(body)
            with open(log_file, "a") as log:
                log.write(f"{event['type']} {event['data']['out_trade_no']} {event['data']['status']} verified {msg_id}\n")
        self.send_response(204); self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
