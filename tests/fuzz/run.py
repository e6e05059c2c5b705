"""Runs every fuzz target for a bounded time and reports executions and coverage.

  python tests/fuzz/run.py [--seconds N] [--targets NAME ...] [--keep DIR]

Each target (tests/fuzz/fuzz_*.py) starts from its seeds, made on the fly by the
target itself (valid models from onnx.helper, structured byte strings) in a fresh
corpus directory, plus the committed corpus tests/fuzz/corpus/NAME (inputs the long
runs found that reach new code, minimized with libFuzzer's -merge=1), and runs under
libFuzzer (atheris: pip install atheris) with a per-input timeout (a hang is a
finding) and a memory limit. Exit status 1 if any target reports a finding; the
offending input is kept as crash-*/timeout-*/oom-* in the corpora's directory (--keep,
or a temporary one, named with the finding): reproduce it with
`python tests/fuzz/fuzz_NAME.py DIR/crash-...`. Exit status 2 for a usage error, such as
a --keep directory that does not exist.
CI runs each target for a few seconds; the hardening runs used 600. To fold a long
run's finds into the committed corpus:

  mkdir -p /tmp/fz && python tests/fuzz/run.py --seconds 600 --targets NAME --keep /tmp/fz
  python tests/fuzz/fuzz_NAME.py -merge=1 tests/fuzz/corpus/NAME /tmp/fz/NAME
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--targets", nargs="*", help="names like feeds, model (default: all)")
    p.add_argument("--keep", help="keep the corpora in this directory (it must exist)")
    args = p.parse_args()
    if args.keep is not None and not os.path.isdir(args.keep):
        p.error(f"--keep {args.keep}: no such directory (mkdir it first)")  # exit status 2
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("the fuzz targets need atheris: python -m pip install atheris", file=sys.stderr)
        return 2
    targets = sorted(glob.glob(os.path.join(HERE, "fuzz_*.py")))
    if args.targets:
        targets = [t for t in targets if os.path.basename(t)[5:-3] in args.targets]
    work = args.keep or tempfile.mkdtemp(prefix="ortnative-fuzz-")
    failed = []
    print(f"{'target':<14} {'seconds':>7} {'execs':>10} {'exec/s':>8} {'cov':>6} {'ft':>6}  result")
    for path in targets:
        name = os.path.basename(path)[5:-3]
        corpus = os.path.join(work, name)
        os.makedirs(corpus, exist_ok=True)
        committed = os.path.join(HERE, "corpus", name)  # read, never written by a run
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                path,
                corpus,
                *([committed] if os.path.isdir(committed) else []),
                f"-max_total_time={args.seconds}",
                "-timeout=30",
                "-rss_limit_mb=4096",
                "-print_final_stats=1",
            ],
            check=False,
            capture_output=True,
            text=True,
            cwd=work,
        )
        took = time.monotonic() - t0
        out = proc.stdout + proc.stderr
        done = re.findall(r"#(\d+)\s+DONE\s+(?:cov: (\d+) ft: (\d+))?", out)
        execs, cov, ft = done[-1] if done else ("?", "", "")
        result = "ok" if proc.returncode == 0 else f"FINDING (exit {proc.returncode})"
        rate = f"{int(execs) / took:.0f}" if execs.isdigit() and took > 0 else "?"
        print(
            f"{name:<14} {took:7.0f} {execs:>10} {rate:>8} {cov or '-':>6} {ft or '-':>6}  {result}"
        )
        if proc.returncode != 0:
            failed.append(name)
            tail = "\n".join(out.strip().splitlines()[-40:])
            print(f"--- {name} (the input is in {work}) ---\n{tail}\n---", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
