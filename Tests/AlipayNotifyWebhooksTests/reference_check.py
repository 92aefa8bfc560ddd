"""The Standard Webhooks reference library (PyPI `standardwebhooks`) against our signer and verifier.

Reads one JSON object per line on stdin and prints one JSON answer per line:
  {"op": "verify", "secret": "whsec_…", "body": "…", "headers": {…}}  ->  {"ok": true} or {"ok": false, "error": "…"}
  {"op": "sign", "secret": "whsec_…", "id": "…", "timestamp": 1700000000, "body": "…"}  ->  {"signature": "v1,…"}
Run by Tests/AlipayNotifyWebhooksTests with the venv scripts/bootstrap makes (.build/python-venv).
"""
import datetime
import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError

for line in sys.stdin:
    request = json.loads(line)
    hook = Webhook(request["secret"])
    if request["op"] == "verify":
        try:
            hook.verify(request["body"].encode(), request["headers"])
            answer = {"ok": True}
        except WebhookVerificationError as error:
            answer = {"ok": False, "error": str(error)}
        except Exception as error:  # a body that is not JSON, …: still one answer per line
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    else:
        when = datetime.datetime.fromtimestamp(request["timestamp"], tz=datetime.timezone.utc)
        answer = {"signature": hook.sign(request["id"], when, request["body"])}
    print(json.dumps(answer), flush=True)
