"""Shared pieces of the fuzz targets (atheris).

Every target checks one promise: whatever the input, ortnative either succeeds or
raises one of its documented exceptions, never crashes or hangs, and both backends
agree (same result, or same exception type and message). A violation raises
``Finding``, which atheris reports as a crash with the input that caused it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import ortnative as ortn
from ortnative import models

# What a bad input may raise: ortnative's errors; a TypeError/ValueError only where
# Python itself rejects an argument (e.g. a kwarg of the wrong kind).
ALLOWED = (ortn.Error, TypeError, ValueError)


class Finding(AssertionError):
    """A broken promise: atheris records the input and stops."""


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", value) or ("error", (type name, message)); anything not ALLOWED raises."""
    try:
        return "ok", fn()
    except ALLOWED as exc:
        return "error", (type(exc).__name__, str(exc))
    except Exception as exc:
        raise Finding(f"undocumented exception {type(exc).__name__}: {exc}") from exc


def same(a: Any, b: Any) -> bool:
    """Results of two backends agree (arrays exactly, NaN equal to NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    return bool(a == b)


def compare(native: tuple[str, Any], python: tuple[str, Any], what: str) -> None:
    if native[0] != python[0]:
        raise Finding(f"{what}: native {native} but python {python}")
    if native[0] == "error" and native[1] != python[1]:
        raise Finding(f"{what}: different errors:\n native {native[1]}\n python {python[1]}")
    if native[0] == "ok" and not same(native[1], python[1]):
        raise Finding(f"{what}: different results")


def seed_models() -> dict[str, bytes]:
    """Valid models made by onnx.helper: the seeds mutation starts from."""
    return {
        "add_one": models.add_one(),
        "mlp": models.mlp((8, 8, 4)),
        "two_inputs": models.two_inputs(),
        "fixed_output": models.fixed_output(),
        "identity_str": models.identity("str"),
        "identity_i64": models.identity("int64", shape=("N", 2)),
        "reduce_sum": models.reduce_sum(),
        "gather": models.gather(),
        "sequence": models.sequence_model(),
        "lying": models.lying_shape(),
    }


def write_seeds(corpus: str, seeds: dict[str, bytes]) -> None:
    os.makedirs(corpus, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(corpus, f"seed-{name}"), "wb") as f:
            f.write(data)


def main(test_one_input: Callable[[bytes], None], seeds: dict[str, bytes]) -> None:
    """Entry point of a target: `python fuzz_x.py [CORPUS_DIR | INPUT ...] [libFuzzer flags]`.
    Seeds are written into the corpus directory first (made on the fly, not stored),
    except when merging (-merge=1), which only keeps what the other directories add.
    A path that does not exist is refused (exit status 2): it is a mistyped corpus or
    an input to reproduce that is elsewhere, and seeding it would make a directory there."""
    paths = [a for a in sys.argv[1:] if not a.startswith("-")]
    for path in paths:
        if not os.path.exists(path):
            print(
                f"{os.path.basename(sys.argv[0])}: {path}: no such file or directory "
                "(a corpus directory must exist: mkdir it first; an input to reproduce "
                "must be a file)",
                file=sys.stderr,
            )
            sys.exit(2)
    import atheris

    corpus = paths[0] if paths else None
    merging = any(a.startswith(("-merge=", "-merge_inner=")) for a in sys.argv[1:])
    if corpus and not os.path.isfile(corpus) and not merging:  # a file: reproducing one
        write_seeds(corpus, seeds)
    # libFuzzer starts its child processes (-merge=1, -fork, -jobs) through the shell
    # with argv[0] as the command: make that "python target.py", not the bare script.
    argv = [shlex.join([sys.executable, os.path.abspath(sys.argv[0])]), *sys.argv[1:]]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
