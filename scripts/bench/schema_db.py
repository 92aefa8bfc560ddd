"""A SQLite database with alipay-notify's real schema, for the Python replays of its statements (commit_pages.py,
worker_sql_ceiling.py): made by `notifyctl db migrate`, opened as the store opens its writer (WAL, synchronous=FULL)."""
import os, sqlite3, subprocess


def migrated_database(notifyctl, folder, name='bench.sqlite'):
    """Creates FOLDER/NAME with every migration applied; returns (its path, a connection in autocommit mode)."""
    path = os.path.join(folder, name)
    subprocess.run([notifyctl, 'db', 'migrate'], env={**os.environ, 'STORE_PATH': path, 'ALIPAY_APP_ID': '2021000000000001'},
                   check=True, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute('PRAGMA journal_mode=WAL')
    db.execute('PRAGMA synchronous=FULL')
    return path, db
