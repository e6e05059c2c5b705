"""The load generator of bench/serve.py, in a process of its own: N concurrent clients on
one asyncio loop (aiohttp, one keep-alive connection each), each in a closed loop: send
the request, read the whole response, send the next. Warm-up first, then a fixed time.

    python bench/serve_client.py URL BODY_FILE [--header K:V ...] --concurrency N
        --seconds S [--warmup S]

Prints one JSON line: requests completed in the timed window, its length, errors (any
status but 200, or a connection error), and every timed request's latency in ns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


async def run(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    import aiohttp

    headers = dict(h.split(":", 1) for h in args.header)
    lats: list[int] = []
    counts = {"errors": 0, "done": 0}
    clock = time.perf_counter_ns
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(t_start: int, t_end: int) -> None:
            while True:
                t0 = clock()
                if t0 >= t_end:
                    return
                try:
                    async with session.post(args.url, data=body, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                t1 = clock()
                if t0 >= t_start:  # timed window
                    if ok:
                        lats.append(t1 - t0)
                        counts["done"] += 1
                    else:
                        counts["errors"] += 1

        now = clock()
        t_start = now + int(args.warmup * 1e9)
        t_end = t_start + int(args.seconds * 1e9)
        await asyncio.gather(*(client(t_start, t_end) for _ in range(args.concurrency)))
        elapsed = (clock() - t_start) / 1e9  # until the last in-flight request ended
    return {
        "requests": counts["done"],
        "errors": counts["errors"],
        "elapsed": elapsed,
        "latencies_ns": lats,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("body")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--warmup", type=float, default=0.5)
    args = p.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args, body))
    else:
        result = uvloop.run(run(args, body))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
