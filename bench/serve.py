"""Serving over HTTP: ortnative serve against the servers a user would pick instead.

Cases: the MLP 256-256-256-10 (batch-1 requests, float32 [1, 256]) and the small CNN
(float32 [1, 3, 224, 224]), each under 1, 8, 64 and 256 concurrent clients.

Variants (each a server process on 127.0.0.1, started for its turn and stopped after):

- ``ortnative serve, batching``: ``python -m ortnative serve`` with ``max_batch_size``
  and ``max_queue_delay_ms`` (see CONFIG); Open Inference Protocol, binary tensors.
- ``ortnative serve, max_batch_size=1``: the same without batching.
- ``FastAPI + onnxruntime``: a plain FastAPI endpoint calling ``InferenceSession.run``
  in FastAPI's thread pool, raw float32 bytes in and out, one uvicorn worker process per
  core, each with its own session on one intra-op thread (bench/serve_servers.py).
- ``KServe + onnxruntime``: KServe's Python model server (``kserve.Model``), Open
  Inference Protocol with binary tensors (the very requests ortnative serve gets), one
  worker per core.
- ``Ray Serve, @serve.batch``: a Ray Serve deployment batching with ``@serve.batch``
  (the same batch size and window as ortnative's), one replica per core, raw bytes.

Clients (bench/serve_client.py) run in a separate process: N concurrent aiohttp clients
on one event loop, each in a closed loop (send, read the whole response, send the
next), one keep-alive connection each. Each server gets the request format it is
fastest with (binary throughout: no JSON-encoded tensors).

Method (deviations from bench/common.py, which is about single calls): check first (a
sample request's output from every server equals plain onnxruntime's, rtol 1e-5; a
server that disagrees is not timed); warm-up (each client process sends for WARMUP
seconds before its timed window; each server also gets a short burst after start);
ROUNDS rounds over the concurrency levels, SECONDS each, per server (servers can't be
interleaved call by call: they are processes that hold cores); throughput = requests
completed in the window / the window, median over rounds; latency = each request
timed on its client, pooled over rounds: median and p99, p25-p75 as spread. Stop rule:
a fixed time. The clients share the machine's cores with the server, as a co-located
load balancer or sidecar would; the same for every variant.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np
from common import (
    Row,
    Stats,
    fmt_us,
    header_lines,
    machine,
    result_path,
    row_dict,
    write_json,
)

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = os.cpu_count() or 1

ORTN_BATCH = "ortnative serve, batching"
ORTN_ONE = "ortnative serve, max_batch_size=1"
FASTAPI = "FastAPI + onnxruntime"
KSERVE = "KServe + onnxruntime"
RAY = "Ray Serve, @serve.batch"
VARIANTS = [ORTN_BATCH, ORTN_ONE, FASTAPI, KSERVE, RAY]

# Per model: the request, and the batching setup both batching servers get (as in
# bench/scheduler.py: every session computes on one thread; concurrency comes from
# replicas and batching).
CONFIG: dict[str, dict[str, Any]] = {
    "MLP": {
        "build": "mlp",
        "input": ("x", (1, 256)),
        "replicas": 1,
        "max_batch_size": 64,
        "max_queue_delay_ms": 0.2,
        "seconds": 3.0,
    },
    "CNN": {
        "build": "small_cnn",
        "input": ("image", (1, 3, 224, 224)),
        "replicas": 2,
        "max_batch_size": 8,
        "max_queue_delay_ms": 2.0,
        "seconds": 5.0,
    },
}
CONCURRENCY = (1, 8, 64, 256)
ROUNDS = 2
WARMUP = 0.5
SETTLE = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One variant's server process, its URL and request format."""

    def __init__(self, variant: str, case: str, path: str, tmp: str) -> None:
        cfg = CONFIG[case]
        self.variant, self.case = variant, case
        self.port = _free_port()
        py = sys.executable
        servers = os.path.join(HERE, "serve_servers.py")
        batch = [
            "--max-batch-size", str(cfg["max_batch_size"]),
            "--max-queue-delay-ms", str(cfg["max_queue_delay_ms"]),
        ]  # fmt: skip
        common = ["--port", str(self.port), "--intra-op-threads", "1", "--max-queue-size", "4096"]
        common += ["--replicas", str(cfg["replicas"]), "--warmup"]
        env = {**os.environ}
        if variant in (ORTN_BATCH, ORTN_ONE):
            cmd = [py, "-m", "ortnative", "serve", path, *common]
            if variant == ORTN_BATCH:
                cmd += batch
            self.url = f"http://127.0.0.1:{self.port}/v2/models/m/infer"
            self.format = "v2"
        elif variant == FASTAPI:
            cmd = [py, servers, "fastapi", path, "--port", str(self.port), "--workers", str(CORES)]
            self.url = f"http://127.0.0.1:{self.port}/predict"
            self.format = "raw"
        elif variant == KSERVE:
            cmd = [py, servers, "kserve", path, "--port", str(self.port), "--workers", str(CORES)]
            env["BENCH_KSERVE"] = "1"
            self.url = f"http://127.0.0.1:{self.port}/v2/models/m/infer"
            self.format = "v2"
        else:
            cmd = [
                py, servers, "ray", path, "--port", str(self.port), "--replicas", str(CORES),
                "--max-batch", str(cfg["max_batch_size"]),
                "--wait-ms", str(cfg["max_queue_delay_ms"]),
            ]  # fmt: skip
            env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ortn-ray-")
            env["RAY_USAGE_STATS_ENABLED"] = "0"
            self.url = f"http://127.0.0.1:{self.port}/predict"
            self.format = "raw"
        self.log = open(os.path.join(tmp, f"{case}-{VARIANTS.index(variant)}.log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.ray_tmp = env.get("RAY_TMPDIR")

    def body(self, x: np.ndarray) -> tuple[bytes, dict[str, str]]:
        if self.format == "raw":
            return x.tobytes(), {"Content-Type": "application/octet-stream"}
        name = CONFIG[self.case]["input"][0]
        head = json.dumps(
            {
                "inputs": [
                    {
                        "name": name,
                        "datatype": "FP32",
                        "shape": list(x.shape),
                        "parameters": {"binary_data_size": x.nbytes},
                    }
                ],
                "parameters": {"binary_data_output": True},
            }
        ).encode()
        return head + x.tobytes(), {
            "Inference-Header-Content-Length": str(len(head)),
            "Content-Type": "application/octet-stream",
        }

    def decode(self, data: bytes, headers: Any) -> np.ndarray:
        if self.format == "raw":
            return np.frombuffer(data, np.float32)
        hlen = int(headers.get("Inference-Header-Content-Length", len(data)))
        head = json.loads(data[:hlen])
        out = head["outputs"][0]
        if "data" in out:
            return np.asarray(out["data"], np.float32)
        return np.frombuffer(data[hlen:], np.float32)

    def ask(self, x: np.ndarray, timeout: float = 30) -> np.ndarray:
        body, headers = self.body(x)
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return self.decode(r.read(), r.headers)

    def _fail(self, why: str) -> SystemExit:
        self.log.flush()
        with open(self.log.name) as f:
            tail = f.read()[-3000:]
        return SystemExit(f"{self.case}: {self.variant} {why}; its output:\n{tail}")

    def wait_ready(self, x: np.ndarray, timeout: float = 240) -> np.ndarray:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise self._fail("exited at start")
            try:
                return self.ask(x, timeout=10)
            except urllib.error.HTTPError as exc:
                raise self._fail(f"answered {exc.code}: {exc.read()[:500]!r}") from None
            except OSError:
                if time.monotonic() > deadline:
                    raise self._fail("never answered") from None
                time.sleep(0.25)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.ray_tmp:
            shutil.rmtree(self.ray_tmp, ignore_errors=True)


def load(server: Server, body_file: str, headers: dict[str, str], n: int, seconds: float) -> dict:
    cmd = [
        sys.executable, os.path.join(HERE, "serve_client.py"), server.url, body_file,
        "--concurrency", str(n), "--seconds", str(seconds), "--warmup", str(WARMUP),
    ]  # fmt: skip
    for k, v in headers.items():
        cmd += ["--header", f"{k}:{v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"the load client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Progress:
    """A progress bar on stderr (a line per step when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        pct = self.done / self.total
        bar = "#" * int(30 * pct) + "-" * (30 - int(30 * pct))
        eta = (time.monotonic() - self.t0) / self.done * (self.total - self.done)
        line = f"[{bar}] {self.done}/{self.total} {label} (eta {eta:.0f} s)"
        if self.tty:
            sys.stderr.write("\r" + line[:110].ljust(110))
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def bench_case(
    case: str, variants: list[str], clients: list[int], scale: float, rounds: int, tmp: str,
    progress: Progress,
) -> list[Row]:  # fmt: skip
    import onnxruntime as ort
    from ortnative import models

    cfg = CONFIG[case]
    os.makedirs(os.path.join(tmp, case), exist_ok=True)
    path = os.path.join(tmp, case, "m.onnx")  # ortnative serve names it "m", as the others
    with open(path, "wb") as f:
        f.write(getattr(models, cfg["build"])())
    in_name, shape = cfg["input"]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(
        None, {in_name: x}
    )[0]
    seconds = cfg["seconds"] * scale
    rows = []
    for variant in variants:
        server = Server(variant, case, path, tmp)
        try:
            got = server.wait_ready(x)
            if not np.allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6):
                raise SystemExit(f"{case}: {variant} disagrees with onnxruntime; not timing it")
            body, headers = server.body(x)
            body_file = os.path.join(tmp, f"{case}-{server.format}.body")
            with open(body_file, "wb") as f:
                f.write(body)
            load(server, body_file, headers, 8, min(1.0, seconds))  # the server's warm-up
            runs: dict[int, list[dict]] = {n: [] for n in clients}
            for _ in range(rounds):
                for n in clients:
                    runs[n].append(load(server, body_file, headers, n, seconds))
                    progress.step(f"{case}, {variant}, {n} clients")
                    time.sleep(SETTLE)
        finally:
            server.stop()
        for n in clients:
            lat = np.concatenate([np.asarray(r["latencies_ns"], np.int64) for r in runs[n]])
            rps = [r["requests"] / r["elapsed"] for r in runs[n]]
            errors = sum(r["errors"] for r in runs[n])
            extra = {
                "clients": n,
                "throughput_rps": statistics.median(rps),
                "rounds_rps": rps,
                "requests": int(lat.size),
                "errors": errors,
            }
            note = f"{errors} errors" if errors else ""
            rows.append(Row(f"{case}, {n} clients", variant, Stats.of(lat), note, extra))
    return rows


def summarize(rows: list[Row]) -> list[str]:
    by = {(r.case, r.variant): r for r in rows}
    notes = []
    for case in CONFIG:
        key = f"{case}, 64 clients"
        ours = by.get((key, ORTN_BATCH))
        if not ours or not ours.stats:
            continue
        others = [by[(key, v)] for v in (FASTAPI, KSERVE, RAY) if (key, v) in by]
        if not others:
            continue
        best = max(others, key=lambda r: r.extra["throughput_rps"])
        ratio = ours.extra["throughput_rps"] / best.extra["throughput_rps"]
        assert best.stats is not None
        parts = [
            f"{o.variant} {ours.extra['throughput_rps'] / o.extra['throughput_rps']:.2f}x"
            for o in others
        ]
        notes.append(
            f"{case}, 64 clients: ortnative serve (batching) serves {ratio:.2f}x the requests/s "
            f"of the best alternative ({best.variant}), p99 {fmt_us(ours.stats.p99_us)} against "
            f"{fmt_us(best.stats.p99_us)}; against each: {', '.join(parts)}."
        )
    return notes


def plot(rows: list[Row]) -> Callable[[str], None]:
    """Draws serve.png (or serve.quick.png): per model, throughput and p99 latency against
    the number of clients, one line per server."""

    def draw(path: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cases = [c for c in CONFIG if any(r.case.startswith(f"{c},") for r in rows)]
        if not cases:
            return
        fig, axes = plt.subplots(len(cases), 2, figsize=(11, 4.2 * len(cases)), squeeze=False)
        for (ax1, ax2), case in zip(axes, cases, strict=True):
            mine = [r for r in rows if r.case.startswith(f"{case},")]
            for variant in VARIANTS:
                pts = sorted(
                    (r.extra["clients"], r.extra["throughput_rps"], r.stats.p99_us / 1000)
                    for r in mine
                    if r.variant == variant and r.stats
                )
                if not pts:
                    continue
                n, rps, p99 = zip(*pts, strict=True)
                style = "-o" if variant.startswith("ortnative") else "--s"
                ax1.plot(n, rps, style, label=variant)
                ax2.plot(n, p99, style, label=variant)
            for ax, title in ((ax1, "throughput (requests/s)"), (ax2, "p99 latency (ms)")):
                ax.set_xscale("log", base=2)
                ax.set_xticks(list(CONCURRENCY), [str(c) for c in CONCURRENCY])
                ax.set_xlabel("concurrent clients")
                ax.set_title(f"{case}: {title}")
                ax.grid(True, alpha=0.3)
            ax2.set_yscale("log")
            ax1.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return draw


def write(
    rows: list[Row],
    notes: list[str],
    method: str,
    cmd: str,
    *,
    quick: bool = False,
    results: str | None = None,
) -> list[str]:
    """serve.json, .md and .png (``.quick.*`` when QUICK) in RESULTS."""
    m = machine()
    data = {
        "suite": "serve",
        "quick": quick,
        "machine": m,
        "method": method,
        "baseline": FASTAPI,
        "notes": notes,
        "meta": {"command": cmd, "config": CONFIG},
        "rows": [row_dict(r) for r in rows],
    }
    jpath = result_path("serve", "json", quick=quick, results=results)
    write_json(jpath, data)
    base = {r.case: r.extra["throughput_rps"] for r in rows if r.variant == FASTAPI}
    lines = header_lines("serve", m, cmd, method, quick)
    lines += [
        "| case | server | throughput | vs FastAPI | median | p99 | p25-p75 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.stats
        assert s is not None
        rps = r.extra["throughput_rps"]
        vs = f"{rps / base[r.case]:.2f}x" if base.get(r.case) else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.variant}{note} | {rps:,.0f} req/s | {vs} | {fmt_us(s.median_us)} | "
            f"{fmt_us(s.p99_us)} | {fmt_us(s.p25_us)} - {fmt_us(s.p75_us)} |"
        )
    lines += ["", *[f"- {n}" for n in notes]]
    ppath = result_path("serve", "png", quick=quick, results=results)
    lines += ["", f"![serve]({os.path.basename(ppath)})"]
    mpath = result_path("serve", "md", quick=quick, results=results)
    with open(mpath, "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(rows)(ppath)
    return [jpath, mpath, ppath]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="a fifth of the time, one round, results in bench/results/serve.quick.* (never "
        "the committed tables)",
    )
    p.add_argument("--cases", nargs="*", choices=list(CONFIG), help="only these models")
    p.add_argument("--clients", nargs="*", type=int, help=f"only these of {CONCURRENCY}")
    p.add_argument("--variants", nargs="*", choices=VARIANTS, help="only these servers")
    args = p.parse_args(argv)
    missing = [m for m in ("aiohttp", "matplotlib", "fastapi", "kserve", "ray") if not _has(m)]
    variants = args.variants or VARIANTS
    if missing:
        raise SystemExit(
            f"the serve benchmark needs {', '.join(missing)}: pip install '.[bench-serve]'"
        )
    scale, rounds = (0.2, 1) if args.quick else (1.0, ROUNDS)
    clients = args.clients or list(CONCURRENCY)
    cases = args.cases or list(CONFIG)
    progress = Progress(len(cases) * len(variants) * len(clients) * rounds)
    tmp = tempfile.mkdtemp(prefix="ortnative-bench-serve-")
    rows: list[Row] = []
    try:
        for case in cases:
            rows += bench_case(case, variants, clients, scale, rounds, tmp, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes = summarize(rows)
    for case, cfg in CONFIG.items():
        if case in cases:
            notes.append(
                f"{case} setup: replicas {cfg['replicas']} (ortnative), batching "
                f"max_batch_size {cfg['max_batch_size']}, window {cfg['max_queue_delay_ms']} ms "
                f"(ortnative and Ray); {cfg['seconds'] * scale:g} s per level and round; "
                f"{CORES} workers/replicas for FastAPI, KServe and Ray."
            )
    method = (
        "Closed-loop HTTP clients in a separate process (aiohttp, one connection each) for "
        "a fixed time per concurrency level and round; throughput is the median over "
        "rounds, latency percentiles pool every request of every round. Method details: "
        "bench/serve.py."
    )
    cmd = "python bench/run.py serve" + (" --quick" if args.quick else "")
    paths = write(rows, notes, method, cmd, quick=args.quick)
    with open(paths[1]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths))
    return 0


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
