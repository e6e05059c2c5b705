"""Runs the benchmark suites: ``python bench/run.py [SUITE ...] [--quick]``.

Each suite writes bench/results/<suite>.json, <suite>.md and <suite>.png; with --quick
(a smoke run, too few samples to quote) <suite>.quick.json, .md and .png instead, which
git ignores, so a quick run never overwrites the committed tables. With no suite named,
all run. The method every suite follows is in bench/common.py.
"""

from __future__ import annotations

import importlib
import os
import sys

SUITES = ["session", "preprocess", "scheduler", "compat", "serve", "interop"]


def main(argv: list[str]) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    names = [a for a in argv if not a.startswith("-")] or SUITES
    flags = [a for a in argv if a.startswith("-")]
    for name in names:
        if name not in SUITES:
            print(f"unknown suite {name!r}; suites: {', '.join(SUITES)}", file=sys.stderr)
            return 2
    for name in names:
        print(f"== {name}", file=sys.stderr)
        rc = importlib.import_module(name).main(flags)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
