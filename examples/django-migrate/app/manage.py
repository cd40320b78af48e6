#!/usr/bin/env python3
"""A Django-shaped stand-in for the ledger app, small enough for the example (no Django):

  manage.py migrate --noinput      applies the schema once (the one-shot `migrate` service)
  manage.py runserver 0.0.0.0:8000 serves GET /healthz (200 only when migrated) and GET /
                                   (JSON: the database answers, the schema is applied, and it
                                   was applied before this process started)
  manage.py process_tasks          the worker: refuses to start before the migration, then
                                   records a heartbeat row every few seconds
"""
import http.server
import json
import os
import sys
import time

import psycopg2

STARTED = time.time()
MIGRATIONS = ["0001_initial"]


def db():
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3)


def applied(cur):
    cur.execute("SELECT to_regclass('ledger_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return {}
    cur.execute("SELECT name, extract(epoch FROM applied_at) FROM ledger_migrations")
    return {name: float(at) for name, at in cur.fetchall()}


def migrate(_args):
    with db() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS ledger_migrations (name text PRIMARY KEY, applied_at timestamptz DEFAULT now())")
        done = applied(cur)
        for name in MIGRATIONS:
            if name not in done:
                cur.execute("CREATE TABLE IF NOT EXISTS ledger_entries (id serial PRIMARY KEY, worker text, at timestamptz DEFAULT now())")
                cur.execute("INSERT INTO ledger_migrations (name) VALUES (%s)", (name,))
                print(f"  Applying ledger.{name}... OK", flush=True)
    print("migrations applied", flush=True)


def status():
    try:
        with db() as conn, conn.cursor() as cur:
            done = applied(cur)
            cur.execute("SELECT count(*) FROM ledger_entries") if done else None
            entries = cur.fetchone()[0] if done else 0
    except Exception as e:
        return {"ok": False, "checks": {"db": {"ok": False, "detail": f"{type(e).__name__}: {e}"}}}
    missing = [m for m in MIGRATIONS if m not in done]
    before = all(at <= STARTED for at in done.values())
    checks = {
        "db": {"ok": True, "detail": "connected"},
        "migrations": {"ok": not missing, "detail": f"missing {missing}" if missing else f"{len(done)} applied"},
        "migrated_before_start": {"ok": bool(done) and before, "detail": f"started {STARTED:.1f}, applied {sorted(done.values())}"},
        "worker": {"ok": entries > 0, "detail": f"{entries} entries"},
    }
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = status()
        if self.path == "/healthz":
            code = 200 if body["checks"].get("migrations", {}).get("ok") else 503
            return self.answer(code, b"ok\n" if code == 200 else b"not migrated\n", "text/plain")
        self.answer(200, json.dumps(body, sort_keys=True).encode() + b"\n", "application/json")

    def answer(self, code, body, kind):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def runserver(args):
    host, _, port = (args[0] if args else "0.0.0.0:8000").rpartition(":")
    server = http.server.ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    server.serve_forever()


def process_tasks(_args):
    with db() as conn, conn.cursor() as cur:
        if [m for m in MIGRATIONS if m not in applied(cur)]:
            sys.exit("the schema is not migrated; refusing to start")
    while True:
        with db() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO ledger_entries (worker) VALUES (%s)", (os.environ.get("DYNO", "worker"),))
        time.sleep(3)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "runserver"
    {"migrate": migrate, "runserver": runserver, "process_tasks": process_tasks}[command](sys.argv[2:])
