#!/usr/bin/env python3
"""The example's application, one file for both processes.

`app.py web` serves HTTP on $PORT (default 8000):
  GET /health  -> 200 "ok" (the compose health check)
  GET /        -> JSON: whether each dependency really answers, and "ok" when all do
`app.py worker` loops: it checks the database, writes a heartbeat to the broker and asks the
web service by its compose name; GET / on web reports that heartbeat as the peer check.
"""
import http.server
import json
import os
import socket
import sys
import time
import urllib.request

import psycopg2
import redis

RELEASE = "1"
UPLOADS = os.environ.get("UPLOADS_DIR", "/app/uploads")


def check(fn):
    try:
        return {"ok": True, "detail": fn()}
    except Exception as e:  # every failure is reported, never raised
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"}


def database():
    with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS visits (at timestamptz DEFAULT now())")
            cur.execute("INSERT INTO visits DEFAULT VALUES")
            cur.execute("SELECT count(*) FROM visits")
            return f"{cur.fetchone()[0]} visits"


def cache(url_var):
    return redis.Redis.from_url(os.environ[url_var], socket_timeout=3).ping() and "PONG"


def peer_worker():
    addr = socket.getaddrinfo("worker", None)[0][4][0]
    r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3)
    beat = json.loads(r.get("worker:heartbeat") or b"{}")
    age = time.time() - beat.get("at", 0)
    if age > 15:
        raise RuntimeError(f"worker resolves to {addr} but its last heartbeat is {age:.0f} s old")
    return f"worker at {addr}, heartbeat {age:.0f} s ago"


def volume():
    os.makedirs(UPLOADS, exist_ok=True)
    path = os.path.join(UPLOADS, "hits.log")
    with open(path, "a") as f:
        f.write(f"{time.time()}\n")
    with open(path) as f:
        return f"{sum(1 for _ in f)} hits"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, b"ok\n", "text/plain")
        checks = {
            "db": check(database),
            "cache": check(lambda: cache("REDIS_URL")),
            "worker": check(peer_worker),
            "volume": check(volume),
        }
        body = {"ok": all(c["ok"] for c in checks.values()), "release": RELEASE,
                "dyno": os.environ.get("DYNO", ""), "checks": checks}
        self.answer(200, json.dumps(body, sort_keys=True).encode() + b"\n", "application/json")

    def answer(self, code, body, kind):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def web():
    port = int(os.environ.get("PORT") or 8000)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    print(f"web release {RELEASE} listening on {port}", flush=True)
    server.serve_forever()


def worker():
    print(f"worker release {RELEASE} started", flush=True)
    while True:
        beat = {"at": time.time(), "db": check(database)["ok"],
                "web": check(lambda: urllib.request.urlopen("http://web:8000/health", timeout=3).read().decode().strip())}
        try:
            redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], socket_timeout=3).set(
                "worker:heartbeat", json.dumps(beat))
        except Exception as e:
            print(f"heartbeat failed: {e}", flush=True)
        time.sleep(2)


if __name__ == "__main__":
    {"web": web, "worker": worker}[sys.argv[1] if len(sys.argv) > 1 else "web"]()
