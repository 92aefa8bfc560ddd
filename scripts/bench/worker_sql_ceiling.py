#!/usr/bin/env python3
"""What SQLite alone allows for the worker's writes on this machine: the ceiling notify-worker's drain rate is judged by.

Replays, with Python's sqlite3 (C statements, a statement cache), exactly the statements notify-worker runs per
notification job -- the claim of a batch (one UPDATE ... RETURNING), then per job in one transaction: a savepoint, the
order read, the conditional order update, the event insert, the fenced job completion and its attempt row -- on the
real schema (made by `notifyctl db migrate`), WAL + synchronous=FULL, with no signature verification and no Swift.

Usage: scripts/bench/worker_sql_ceiling.py NOTIFYCTL [JOBS] [BATCH] [OPTIMISTIC]   (defaults: 40000 jobs, batches of 256, 0)
  NOTIFYCTL   path to a notifyctl binary (e.g. .build-release/release/notifyctl)
  OPTIMISTIC  1: leave out the claim transaction and the 'running' state (claim and apply in one transaction)
"""
import subprocess, sys, tempfile, time

from schema_db import migrated_database

if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help'):
    print(__doc__.strip(), file=sys.stdout if len(sys.argv) >= 2 else sys.stderr)
    sys.exit(0 if len(sys.argv) >= 2 else 2)
notifyctl = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
B = int(sys.argv[3]) if len(sys.argv) > 3 else 256
optimistic = len(sys.argv) > 4 and sys.argv[4] == '1'
cache = 65536  # KiB, as SQLiteStore sets on the writer
work = tempfile.mkdtemp(prefix='sql-ceiling.')
db, c = migrated_database(notifyctl, work, 'ceiling.sqlite')
c.execute(f'PRAGMA cache_size=-{cache}')
now = '2026-11-29 12:00:00.000'
body = 'x' * 900
c.execute('BEGIN')
for i in range(N):
    c.execute("INSERT INTO orders (out_trade_no, subject, total_amount_fen, status, created_at, updated_at) VALUES (?, 'b', 8888, 'WAIT_BUYER_PAY', ?, ?)", (f'BENCH{i}', now, now))
    c.execute("INSERT INTO notifications (notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at) VALUES (?, ?, 'TRADE_SUCCESS', ?, ?, ?)", (f'n{i:x}{i*7919%10007}', f'BENCH{i}', body, now, now))
    nid = c.execute('SELECT last_insert_rowid()').fetchone()[0]
    c.execute("INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, attempts, run_at, created_at, updated_at) VALUES ('notification','pending',?,?,?,?,0,?,?,?)", (f'notification:{i}', f'BENCH{i}', nid, f'n{i}', now, now, now))
c.execute('COMMIT')
start = time.perf_counter()
done = 0
while done < N:
    c.execute('BEGIN IMMEDIATE')
    ids = [r[0] for r in c.execute("SELECT id FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state='pending' AND kind = 'notification' AND run_at <= ? ORDER BY run_at, id LIMIT ?", (now, B))]
    if optimistic:
        rows = c.execute(f"SELECT * FROM jobs WHERE id IN ({','.join(map(str, ids))})").fetchall()
    else:
        rows = c.execute(f"UPDATE jobs SET state='running', attempts=attempts+1, lease_owner='w', lease_expires_at=?, updated_at=? WHERE id IN ({','.join(map(str, ids))}) RETURNING *", (now, now)).fetchall()
    c.execute('COMMIT')
    bodies = c.execute(f"SELECT * FROM notifications WHERE id IN ({','.join(str(r[5]) for r in rows)})").fetchall()
    c.execute('BEGIN IMMEDIATE')
    for r in rows:
        jid, otn = r[0], r[4]
        c.execute('SAVEPOINT s')
        o = c.execute('SELECT * FROM orders WHERE out_trade_no = ?', (otn,)).fetchone()
        c.execute("UPDATE orders SET status='TRADE_SUCCESS', trade_no=COALESCE(?, trade_no), refunded_fen=COALESCE(?, refunded_fen), paid_at=COALESCE(?, paid_at), closed_at=COALESCE(?, closed_at), updated_at=? WHERE out_trade_no=? AND status='WAIT_BUYER_PAY'", ('2024', None, now, None, now, otn))
        c.execute("INSERT INTO order_events (out_trade_no, from_status, to_status, source, job_id, notify_id, detail, created_at) VALUES (?, 'WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'notification', ?, ?, 'paid 88.88 (TRADE_SUCCESS)', ?)", (otn, jid, 'n', now))
        fence = "state='pending'" if optimistic else "state='running' AND lease_owner='w'"
        a = c.execute(f"UPDATE jobs SET state='done', lease_owner=NULL, lease_expires_at=NULL, last_error=NULL, updated_at=? WHERE id=? AND {fence} RETURNING attempts", (now, jid)).fetchone()
        c.execute("INSERT INTO job_attempts (job_id, attempt, owner, outcome, error, at) VALUES (?, ?, 'w', 'done', NULL, ?)", (jid, a[0], now))
        c.execute('RELEASE s')
    c.execute('COMMIT')
    done += len(rows)
el = time.perf_counter() - start
print(f'sql ceiling: jobs={N} batch={B} optimistic={int(optimistic)} seconds={el:.2f} jobs_per_second={N/el:.0f}')
subprocess.run(['rm', '-rf', work])
