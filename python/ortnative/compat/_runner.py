"""``python -m ortnative run SCRIPT [ARGS...]`` / ``run -m MODULE [ARGS...]``: a program,
unchanged, with :func:`ortnative.compat.install` in effect.

The program runs in this interpreter as ``__main__`` (``runpy``), with ``sys.argv`` and
``sys.path[0]`` as ``python SCRIPT`` / ``python -m MODULE`` would set them; its exit
status, exceptions and output are its own.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
from collections.abc import Sequence

USAGE = (
    "usage: ortnative run SCRIPT [ARGS...]\n"
    "       ortnative run -m MODULE [ARGS...]\n"
    "Runs a Python program with ortnative.compat installed: its onnxruntime.InferenceSession\n"
    "is ortnative's."
)


def _usage_error(message: str) -> int:
    print(f"{USAGE}\nortnative: error: run: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str]) -> int:
    """Runs the program ARGV names; returns its exit status when it returns normally
    (``SystemExit`` from the program propagates, as it would from ``python SCRIPT``).
    A program that cannot be found is a usage error (status 2)."""
    args = list(argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not args:
        return _usage_error("name a script, or -m and a module")
    module: str | None = None
    if args[0] == "-m":
        if len(args) < 2:
            return _usage_error("-m needs a module name")
        module, rest = args[1], args[2:]
    elif args[0].startswith("-m") and len(args[0]) > 2:
        module, rest = args[0][2:], args[1:]
    elif args[0].startswith("-"):
        return _usage_error(f"unknown option {args[0]!r} (the program's options go after it)")
    else:
        script, rest = args[0], args[1:]
        if not os.path.exists(script):
            return _usage_error(
                f"can't open file '{os.path.abspath(script)}': no such file or directory"
            )
    from . import install

    install()
    if module is not None:
        sys.path[0:1] = [os.getcwd()]
        try:
            found = importlib.util.find_spec(module)
        except ImportError:
            found = None
        if found is None:
            return _usage_error(f"no module named '{module}'")
        sys.argv = [module, *rest]  # run_module sets argv[0] to the module's file
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [script, *rest]
        sys.path[0:1] = [os.path.dirname(os.path.abspath(script))]
        runpy.run_path(script, run_name="__main__")
    return 0
