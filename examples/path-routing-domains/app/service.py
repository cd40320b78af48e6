#!/usr/bin/env python3
"""The shop's three services in one small file (the role is the first argument):

  storefront  listens on 3000; GET / reports whether the API answers at http://api:8080/
  api         listens on 8080; GET / reports whether the database answers a query
  admin       listens on 4000; GET / reports whether the database and the API answer

Every answer is JSON with "service", "ok" (all checks pass), the checks, and the path and
headers the request arrived with, so a test can see how the gateway routed it.
"""
import http.server
import json
import os
import sys
import urllib.request

import psycopg2

ROLE = sys.argv[1] if len(sys.argv) > 1 else "storefront"
PORTS = {"storefront": 3000, "api": 8080, "admin": 4000}


def check(fn):
    try:
        return {"ok": True, "detail": fn()}
    except Exception as e:  # every failure is reported, never raised
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"}


def database():
    with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        return cur.fetchone()[0]


def api():
    body = json.loads(urllib.request.urlopen(os.environ.get("API_URL", "http://api:8080") + "/", timeout=3).read())
    if not body.get("ok"):
        raise RuntimeError(f"api answered {body}")
    return "api ok"


CHECKS = {"storefront": {"api": api}, "api": {"db": database}, "admin": {"db": database, "api": api}}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, b"ok\n", "text/plain")
        checks = {k: check(fn) for k, fn in CHECKS[ROLE].items()}
        body = {"service": ROLE, "ok": all(c["ok"] for c in checks.values()), "checks": checks,
                "path": self.path, "prefix": self.headers.get("X-Forwarded-Prefix", ""),
                "host": self.headers.get("Host", "")}
        self.answer(200, json.dumps(body, sort_keys=True).encode() + b"\n", "application/json")

    def answer(self, code, body, kind):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("0.0.0.0", PORTS[ROLE]), Handler)
    server.daemon_threads = True
    server.serve_forever()
