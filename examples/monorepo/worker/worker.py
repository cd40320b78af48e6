"""Takes jobs from the redis list `jobs` and runs them, CONCURRENCY at a time."""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import redis


def run(job: dict) -> None:
    print(f"running {job.get('name', '?')}", flush=True)


def main() -> None:
    queue = redis.Redis.from_url(os.environ["REDIS_URL"])
    with ThreadPoolExecutor(max_workers=int(os.environ.get("CONCURRENCY", "4"))) as pool:
        print("worker waiting for jobs", flush=True)
        while True:
            _, raw = queue.blpop("jobs")
            pool.submit(run, json.loads(raw))


if __name__ == "__main__":
    main()
