"""``python -m ortnative run SCRIPT [ARGS...]`` / ``run -m MODULE [ARGS...]``: a program,
unchanged, with :func:`ortnative.compat.install` in effect.

The program runs in this interpreter as ``__main__`` (``runpy``), with ``sys.argv`` and
``sys.path[0]`` as ``python SCRIPT`` / ``python -m MODULE`` would set them; its exit
status, exceptions and output are its own.
"""

from __future__ import annotations

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


def main(argv: Sequence[str]) -> int:
    """Runs the program ARGV names; returns its exit status when it returns normally
    (``SystemExit`` from the program propagates, as it would from ``python SCRIPT``)."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    module: str | None = None
    if args[0] == "-m":
        if len(args) < 2:
            print("ortnative run: -m needs a module name\n" + USAGE, file=sys.stderr)
            return 2
        module, rest = args[1], args[2:]
    elif args[0].startswith("-m") and len(args[0]) > 2:
        module, rest = args[0][2:], args[1:]
    else:
        script, rest = args[0], args[1:]
        if not os.path.exists(script):
            print(
                f"ortnative run: can't open file {os.path.abspath(script)!r}: "
                "[Errno 2] No such file or directory",
                file=sys.stderr,
            )
            return 2
    from . import install

    install()
    if module is not None:
        sys.argv = [module, *rest]  # run_module sets argv[0] to the module's file
        sys.path[0:1] = [os.getcwd()]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [script, *rest]
        sys.path[0:1] = [os.path.dirname(os.path.abspath(script))]
        runpy.run_path(script, run_name="__main__")
    return 0
