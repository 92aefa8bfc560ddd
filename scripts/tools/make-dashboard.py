#!/usr/bin/env python3
"""Writes deploy/grafana/alipay-notify.json: the operator dashboard (run again after changing panels)."""
import json, pathlib

def panel(i, title, exprs, unit="short", kind="timeseries", w=12, h=8):
    x, y = (i % 2) * 12, (i // 2) * 8
    return {
        "id": i + 1, "type": kind, "title": title,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + n), "expr": e, "legendFormat": l} for n, (e, l) in enumerate(exprs)],
    }

panels = [
    ("Notifications accepted / received (ratio)",
     [("sum(rate(alipay_notify_notifications_accepted_total[5m]) + rate(alipay_notify_notifications_duplicates_total[5m])) / sum(rate(alipay_notify_notifications_received_total[5m]))", "acceptance")], "percentunit"),
    ("Rejections by reason (/s)",
     [("sum by (reason) (rate(alipay_notify_notifications_rejected_total[5m]))", "{{reason}}")], "reqps"),
    ("Acknowledgement latency (what Alipay waits for success)",
     [("histogram_quantile(0.5, sum by (le) (rate(alipay_notify_notification_ack_seconds_bucket[5m])))", "p50"),
      ("histogram_quantile(0.99, sum by (le) (rate(alipay_notify_notification_ack_seconds_bucket[5m])))", "p99")], "s"),
    ("Enqueue commit latency",
     [("histogram_quantile(0.5, sum by (le) (rate(alipay_notify_enqueue_commit_seconds_bucket[5m])))", "p50"),
      ("histogram_quantile(0.99, sum by (le) (rate(alipay_notify_enqueue_commit_seconds_bucket[5m])))", "p99")], "s"),
    ("Queue depth by state",
     [("alipay_notify_queue_jobs", "{{state}}")], "short"),
    ("Oldest pending job age",
     [("alipay_notify_queue_oldest_pending_seconds", "oldest pending")], "s"),
    ("Job outcomes (/s)",
     [("sum by (kind, outcome) (rate(alipay_notify_jobs_total[5m]))", "{{kind}} {{outcome}}")], "ops"),
    ("alipay.trade.query results (/s)",
     [("sum by (result) (rate(alipay_notify_trade_query_total[5m]))", "{{result}}")], "ops"),
    ("Orders by status",
     [("alipay_notify_orders", "{{status}}"), ("alipay_notify_orders_needing_review", "needing review")], "short"),
    ("Order transitions and refunds (/s)",
     [("sum by (to) (rate(alipay_notify_order_transitions_total[5m]))", "to {{to}}"),
      ("sum by (kind) (rate(alipay_notify_refunds_total[5m]))", "{{kind}}")], "ops"),
    ("Webhook deliveries by result (/s)",
     [("sum by (result) (rate(alipay_notify_webhook_deliveries_total[5m]))", "{{result}}")], "ops"),
    ("Webhook delivery latency (order change to the endpoint's 2xx) and oldest undelivered event",
     [("histogram_quantile(0.5, sum by (le) (rate(alipay_notify_webhook_delivery_latency_seconds_bucket[5m])))", "p50"),
      ("histogram_quantile(0.99, sum by (le) (rate(alipay_notify_webhook_delivery_latency_seconds_bucket[5m])))", "p99"),
      ("max by (endpoint) (alipay_notify_webhook_oldest_undelivered_seconds)", "oldest undelivered {{endpoint}}")], "s"),
]

dashboard = {
    "title": "alipay-notify", "uid": "alipay-notify", "schemaVersion": 39, "version": 1,
    "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "tags": ["alipay", "payments"],
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "panels": [panel(i, t, e, u) for i, (t, e, u) in enumerate(panels)],
}
out = pathlib.Path(__file__).resolve().parents[2] / "deploy/grafana/alipay-notify.json"
out.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
