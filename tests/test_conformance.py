"""Conformance against a suite nobody here wrote: ONNX's backend node tests.

The cases come with the ``onnx`` package: as files under
``onnx/backend/test/data/node`` in wheels that ship them, else generated in memory
from ``onnx.backend.test.case.node`` (the code those files are made from: same
models, same inputs, same expected outputs and tolerances). Every case that plain
``onnxruntime`` passes must pass on ortnative too, on both backends, with the same
tolerance. The counts are printed in the test summary.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import ortnative as ortn
import pytest
from conftest import SUMMARY

onnx = pytest.importorskip("onnx", reason="the conformance cases come from the onnx package")
ort = pytest.importorskip("onnxruntime", reason="plain onnxruntime is the reference")


@dataclass
class Case:
    name: str
    model: bytes
    input_names: list[str]
    data_sets: list[tuple[list[Any], list[Any]]]
    rtol: float
    atol: float


def _from_files(root: str) -> list[Case]:
    from onnx import numpy_helper

    cases = []
    for d in sorted(glob.glob(os.path.join(root, "*"))):
        model_path = os.path.join(d, "model.onnx")
        if not os.path.exists(model_path):
            continue
        model = onnx.load(model_path)
        data_sets = []
        for ds in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
            ins = [
                _load_pb(p, numpy_helper) for p in sorted(glob.glob(os.path.join(ds, "input_*.pb")))
            ]
            outs = [
                _load_pb(p, numpy_helper)
                for p in sorted(glob.glob(os.path.join(ds, "output_*.pb")))
            ]
            data_sets.append((ins, outs))
        cases.append(
            Case(
                os.path.basename(d),
                model.SerializeToString(),
                [i.name for i in model.graph.input],
                data_sets,
                1e-3,
                1e-7,
            )
        )
    return cases


def _load_pb(path: str, numpy_helper: Any) -> Any:
    tensor = onnx.TensorProto()
    with open(path, "rb") as f:
        data = f.read()
    tensor.ParseFromString(data)
    if tensor.data_type != 0 or tensor.dims:
        return numpy_helper.to_array(tensor)
    seq = onnx.SequenceProto()
    seq.ParseFromString(data)
    return numpy_helper.to_list(seq)


def _generated() -> list[Case]:
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators divide by zero on purpose
        raw = node.collect_testcases()
    return [
        Case(
            c.name,
            c.model.SerializeToString(),
            [i.name for i in c.model.graph.input],
            c.data_sets,
            c.rtol,
            c.atol,
        )
        for c in raw
    ]


def _close(got: Any, want: Any, rtol: float, atol: float) -> bool:
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_close(g, w, rtol, atol) for g, w in zip(got, want, strict=False))
        )
    if want is None:
        return got is None
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":
        return bool(np.array_equal(got.astype(str), want.astype(str)))
    try:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    except (AssertionError, TypeError, ValueError):
        return False
    return True


def _feeds(case: Case, inputs: list[Any]) -> dict[str, Any]:
    return dict(zip(case.input_names, inputs, strict=False))


def _passes(run: Any, case: Case) -> bool:
    for inputs, outputs in case.data_sets:
        got = run(_feeds(case, inputs))
        if len(got) != len(outputs):
            return False
        if not all(_close(g, w, case.rtol, case.atol) for g, w in zip(got, outputs, strict=False)):
            return False
    return True


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """The cases, and which of them plain onnxruntime passes."""
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    cases = _from_files(root) if os.path.isdir(root) else _generated()
    source = "shipped files" if os.path.isdir(root) else "onnx.backend.test.case.node"
    so = ort.SessionOptions()
    so.log_severity_level = 4
    passing = []
    for case in cases:
        try:
            sess = ort.InferenceSession(case.model, so, providers=["CPUExecutionProvider"])
            if _passes(lambda f, s=sess: s.run(None, f), case):
                passing.append(case)
        except Exception:  # noqa: BLE001, S112 - plain onnxruntime fails it: not required of us
            continue
    return {"all": cases, "passing": passing, "source": source}


def test_conformance(reference, backend):
    cases = reference["passing"]
    assert len(cases) > 1000, "the suite should have well over a thousand cases ORT passes"
    failures = []
    for case in cases:
        try:
            with ortn.Session(case.model, backend=backend) as s:
                names = [o.name for o in s.outputs]
                ok = _passes(lambda f, s=s, names=names: [s.run(f)[n] for n in names], case)
        except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            continue
        if not ok:
            failures.append(f"{case.name}: wrong result")
    SUMMARY.append(
        f"conformance [{backend}]: {len(cases) - len(failures)}/{len(cases)} ONNX node cases "
        f"passed (of {len(reference['all'])} in the suite, from {reference['source']}; the "
        f"others fail on plain onnxruntime {ort.__version__} too)"
    )
    assert not failures, f"{len(failures)} cases fail:\n" + "\n".join(failures[:40])
