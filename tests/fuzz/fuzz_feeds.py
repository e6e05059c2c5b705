"""Fuzz target: feeds, outputs= and out= of every shape into Session.run.

Names (right, wrong, not str), dtypes (every supported one, unsupported ones, the
wrong byte order), ranks, dimensions, memory layouts (C, Fortran, strided,
misaligned, read-only), containers (dict, list, one array, junk) and out= arrays are
drawn from the input bytes and fed to the same models on both backends, which must
agree exactly: same outputs, or the same exception with the same message.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ortnative"]):
    import numpy as np
    import ortnative as ortn
    import ortnative._fallback
    from common import compare, main, outcome
    from ortnative import models

DTYPES = [
    "float32",
    "float64",
    "float16",
    "int64",
    "int32",
    "int8",
    "uint8",
    "uint64",
    "bool",
    "complex64",
    ">f4",
    "U3",
    "S3",
    "O",
]
NAMES = ["x", "a", "b", "seq", "y", "sum", "prod", "s", "", "X", "x ", "é"]

SESSIONS: list[tuple[ortn.Session, ortn.Session]] = []


def _sessions() -> list[tuple[ortn.Session, ortn.Session]]:
    if not SESSIONS:
        for build in (
            models.add_one,
            models.two_inputs,
            models.fixed_output,
            lambda: models.identity("str"),
            lambda: models.identity("int64", shape=("N", 2)),
            models.reduce_sum,
            models.gather,
            models.sequence_model,
            models.lying_shape,
        ):
            m = build()
            SESSIONS.append((ortn.Session(m, backend="native"), ortn.Session(m, backend="python")))
    return SESSIONS


def _array(fdp: atheris.FuzzedDataProvider) -> object:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeFloat()
    if kind == 2:
        return [fdp.ConsumeFloat() for _ in range(fdp.ConsumeIntInRange(0, 4))]
    dtype = np.dtype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    rank = fdp.ConsumeIntInRange(0, 4)
    shape = tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(rank))
    n = int(np.prod(shape, dtype=np.int64))
    raw = fdp.ConsumeBytes(n * dtype.itemsize) if dtype.kind != "O" else b""
    if dtype.kind == "O":
        arr = np.array([str(i) if fdp.ConsumeBool() else i for i in range(n)], dtype=object)
    else:
        raw = raw.ljust(n * dtype.itemsize, bytes(1))
        arr = np.frombuffer(raw, dtype=dtype, count=n).copy()
    arr = arr.reshape(shape)
    layout = fdp.ConsumeIntInRange(0, 4)
    if layout == 1 and arr.ndim >= 2:
        arr = np.asfortranarray(arr)
    elif layout == 2 and arr.ndim >= 1:
        arr = np.repeat(arr, 2, axis=0)[::2]  # same values, strided
    elif layout == 3 and dtype.kind not in "OU" and dtype.itemsize > 1:
        buf = bytearray(arr.nbytes + 1)
        mis = np.frombuffer(buf, dtype=dtype, offset=1, count=n).reshape(shape)
        mis[...] = arr
        arr = mis  # misaligned
    elif layout == 4:
        arr.setflags(write=False)
    return arr


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    sessions = _sessions()
    native, python = sessions[fdp.ConsumeIntInRange(0, len(sessions) - 1)]
    container = fdp.ConsumeIntInRange(0, 4)
    entries = [
        (
            NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)] if fdp.ConsumeBool() else 7,
            [_array(fdp) for _ in range(fdp.ConsumeIntInRange(1, 2))]
            if native.inputs[0].name == "seq" and fdp.ConsumeBool()
            else _array(fdp),
        )
        for _ in range(fdp.ConsumeIntInRange(0, 3))
    ]
    if container == 0:
        feeds: object = dict(entries)
    elif container == 1:
        feeds = [v for _, v in entries]
    elif container == 2:
        feeds = entries[0][1] if entries else np.zeros(0, np.float32)
    elif container == 3:
        feeds = tuple(v for _, v in entries)
    else:
        feeds = fdp.ConsumeIntInRange(0, 3)
    outputs = None
    if fdp.ConsumeBool():
        pick = fdp.ConsumeIntInRange(0, 2)
        outputs = (
            [o.name for o in native.outputs][: fdp.ConsumeIntInRange(0, 2)]
            if pick == 0
            else [NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)]]
            if pick == 1
            else "y"
        )
    out = None
    if fdp.ConsumeBool():
        name = NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)]
        out = {name: _array(fdp)}
    compare(
        outcome(lambda: native.run(feeds, outputs, out=out)),
        outcome(lambda: python.run(feeds, outputs, out=out)),
        "run",
    )


def _seeds() -> dict[str, bytes]:
    return {f"bytes-{i}": bytes([i, 0, 1, 2, 3, 4, 5, 6, 7, 8] * 8) for i in range(16)}


if __name__ == "__main__":
    main(test_one_input, _seeds())
