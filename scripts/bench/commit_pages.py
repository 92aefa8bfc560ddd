#!/usr/bin/env python3
"""How many pages one group commit of the receiver writes to the WAL, on the real schema (what every index costs).

Replays, with Python's sqlite3, the receiver's two statements per notification (the notification's upsert and its
job's INSERT, as SQLiteQueue.append runs them) in transactions of BATCH notifications, on a database made by
`notifyctl db migrate`, WAL + synchronous=FULL, checkpoints off; then reads the WAL's size: frames per commit. Each
frame is one 4 KiB page written (and later copied again by the checkpoint). DROP names indexes to drop first (what if).

Usage: scripts/bench/commit_pages.py NOTIFYCTL [BATCH] [COMMITS] [DROP...]   (defaults: 24 notifications, 200 commits)
  NOTIFYCTL   path to a notifyctl binary (e.g. .build-release/release/notifyctl)
"""
import os, shutil, sys, tempfile

from schema_db import migrated_database

if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help'):
    print(__doc__.strip(), file=sys.stdout if len(sys.argv) >= 2 else sys.stderr)
    sys.exit(0 if len(sys.argv) >= 2 else 2)
notifyctl = sys.argv[1]
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 24
commits = int(sys.argv[3]) if len(sys.argv) > 3 else 200
drops = sys.argv[4:]
work = tempfile.mkdtemp(prefix='commit-pages.')
try:
    path, db = migrated_database(notifyctl, work, 'pages.sqlite')
    db.execute('PRAGMA wal_autocheckpoint=0')
    for index in drops:
        db.execute(f'DROP INDEX {index}')
    indexes = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('notifications', 'jobs') ORDER BY tbl_name, name")]
    db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    now = '2026-12-05 12:00:00.000'
    body = 'x' * 900  # about the size of a signed TRADE_SUCCESS body
    n = 0
    for _ in range(commits):
        db.execute('BEGIN IMMEDIATE')
        for _ in range(batch):
            n += 1
            notify_id, out_trade_no = f'bench-r1-{n}', f'BENCHr1N{n}'
            (row_id, _count), = db.execute(
                """INSERT INTO notifications (notify_id, out_trade_no, trade_status, body, first_received_at, last_received_at,
                                              delivery_count, seal)
                   VALUES (?, ?, 'TRADE_SUCCESS', ?, ?, ?, 1, ?)
                   ON CONFLICT (notify_id) DO UPDATE SET delivery_count = delivery_count + 1, last_received_at = excluded.last_received_at
                   RETURNING id, delivery_count""", (notify_id, out_trade_no, body, now, now, 's' * 44)).fetchall()
            db.execute("""INSERT INTO jobs (kind, state, unique_key, out_trade_no, notification_id, notify_id, payload, attempts, run_at,
                                            created_at, updated_at)
                          VALUES ('notification', 'pending', ?, ?, ?, ?, NULL, 0, ?, ?, ?)""",
                       (f'notification:{notify_id}', out_trade_no, row_id, notify_id, now, now, now))
        db.execute('COMMIT')
    frames = (os.path.getsize(path + '-wal') - 32) / (24 + 4096)
    print(f'indexes on notifications and jobs: {", ".join(indexes)}')
    print(f'{commits} commits of {batch} notifications: {frames / commits:.1f} WAL frames (4 KiB pages) per commit, '
          f'{frames / commits / batch:.2f} per notification')
finally:
    shutil.rmtree(work, ignore_errors=True)
