"""Takes jobs from the redis list `jobs` and runs them, CONCURRENCY at a time; every few seconds
it writes its heartbeat (`worker.<DYNO>`) to the redis hash `acme:heartbeats`, which the API
reports. Standard library only: a few redis commands over a socket."""

import json
import os
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HEARTBEATS = "acme:heartbeats"


class Redis:
    """One connection to the server of a redis:// URL (authenticated with its password)."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 6379), timeout=15)
        self.file = self.sock.makefile("rb")
        if u.password:
            self.call("AUTH", urllib.parse.unquote(u.password))

    def call(self, *args: str):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"unexpected redis reply {line!r}")


def run(job: dict) -> None:
    print(f"running {job.get('name', '?')}", flush=True)


def main() -> None:
    name = "worker." + os.environ.get("DYNO", "local")
    while True:
        try:
            queue = Redis(os.environ["REDIS_URL"])
            with ThreadPoolExecutor(max_workers=int(os.environ.get("CONCURRENCY", "4"))) as pool:
                print(f"{name} waiting for jobs", flush=True)
                while True:
                    queue.call("HSET", HEARTBEATS, name, str(int(time.time())))
                    popped = queue.call("BLPOP", "jobs", "5")
                    if popped:
                        pool.submit(run, json.loads(popped[1]))
        except (OSError, RuntimeError) as e:
            print(f"redis: {e}; retrying", flush=True)
            time.sleep(2)


if __name__ == "__main__":
    main()
