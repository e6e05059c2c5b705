"""The session knobs (issue 12, section 2), on both backends, each with its effect checked:
memory options and logging as ONNX Runtime reports them in its log, the optimised model
file, profiling traces, free-dimension overrides, custom op libraries (onnxruntime-
extensions'), initializers and external data from memory, RunOptions (terminate from
another thread), map outputs against onnxruntime's, and the shared pools' spinning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import numpy as np
import onnxruntime
import ortnative as ortn
import pytest
from conftest import BACKENDS, require_backend
from ortnative import models

X14 = np.ones((1, 4), np.float32)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs CODE in a fresh interpreter (ONNX Runtime's log goes to its stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ORTNATIVE_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


def _options_line(stderr: str) -> str:
    """The "Session Options { ... }" line ONNX Runtime logs (verbose) for a new session."""
    lines = [line for line in stderr.splitlines() if "Session Options {" in line]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def _errors_on_both(fn: Any) -> list[str]:
    """str() of the ortnative.Error FN(backend) raises, for each backend."""
    texts = []
    for be in BACKENDS:
        require_backend(be)
        with pytest.raises(ortn.Error) as info:
            fn(be)
        texts.append(f"{type(info.value).__name__}: {info.value}")
    assert texts[0] == texts[1]
    return texts


# -- memory, determinism, logging -------------------------------------------------------


def test_memory_and_determinism_options_reach_onnxruntime(backend):
    """ONNX Runtime logs the options a session got: the knobs are there, as set."""
    code = f"""
    import numpy as np, ortnative as ortn
    from ortnative import models
    s = ortn.Session(models.add_one((1, 4)), backend="{backend}", log_severity_level=0,
                     logid="knobs", enable_cpu_mem_arena={{arena}}, enable_mem_pattern={{pattern}},
                     use_deterministic_compute={{det}})
    assert (s.run({{{{"x": np.ones((1, 4), np.float32)}}}})["y"] == 2).all()
    """
    changed = _python(code.format(arena=False, pattern=False, det=True))
    assert changed.returncode == 0, changed.stderr
    line = _options_line(changed.stderr)
    assert "enable_cpu_mem_arena:0" in line
    assert "enable_mem_pattern:0" in line
    assert "use_deterministic_compute:1" in line
    assert "session_logid:knobs" in line
    assert "session_log_severity_level:0" in line
    default = _options_line(_python(code.format(arena=True, pattern=True, det=False)).stderr)
    assert "enable_cpu_mem_arena:1" in default
    assert "enable_mem_pattern:1" in default
    assert "use_deterministic_compute:0" in default


@pytest.mark.parametrize("level", [None, 0, 3])
def test_log_levels_logid_and_run_tag(backend, level):
    """A session's log level decides what ONNX Runtime prints, tagged with its logid; a
    run's RunOptions log level and tag do the same for the run (default: nothing)."""
    proc = _python(f"""
    import numpy as np, ortnative as ortn
    from ortnative import models
    s = ortn.Session(models.add_one((1, 4)), backend="{backend}", log_severity_level={level},
                     logid="knoblog")
    ro = ortn.RunOptions(run_tag="tagtag", log_severity_level={level}, log_verbosity_level=0)
    s.run({{"x": np.ones((1, 4), np.float32)}}, run_options=ro)
    """)
    assert proc.returncode == 0, proc.stderr
    if level == 0:
        assert "[I:onnxruntime:knoblog," in proc.stderr
        assert "tagtag" in proc.stderr
    else:
        assert proc.stderr == ""


# -- the optimised model, profiling --------------------------------------------------------


def test_optimized_model_file_is_written_and_loads(make_session, tmp_path):
    path = tmp_path / "optimized.onnx"
    s = make_session(models.mlp((8, 8, 4)), optimized_model_filepath=path)
    assert s.options.optimized_model_filepath == str(path)
    assert path.stat().st_size > 0
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    again = make_session(str(path))
    np.testing.assert_allclose(again.run({"x": x})["y"], s.run({"x": x})["y"], rtol=1e-6)


def test_profiling_writes_a_json_trace(make_session, tmp_path):
    s = make_session(
        models.add_one((1, 4)), enable_profiling=True, profile_file_prefix=tmp_path / "trace"
    )
    start = s.profiling_start_time_ns
    assert start > 0
    s.run({"x": X14})
    path = s.end_profiling()
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path).startswith("trace")
    assert path.endswith(".json")
    with open(path) as f:
        events = json.load(f)
    assert any(e.get("name") == "model_run" for e in events)
    assert s.end_profiling() == ""  # ended already
    plain = make_session(models.add_one((1, 4)))
    assert plain.end_profiling() == ""
    assert plain.profiling_start_time_ns == 0
    plain.close()
    with pytest.raises(ortn.SessionClosedError):
        plain.end_profiling()


# -- free dimensions -------------------------------------------------------------------------


def _denoted_identity() -> bytes:
    import onnx
    from onnx import helper as h

    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["B", 2])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["B", 2])
    for v in (x, y):
        v.type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
    graph = h.make_graph([h.make_node("Identity", ["x"], ["y"])], "denoted", [x], [y])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_free_dimension_overrides_fix_the_input_shape(make_session):
    by_name = make_session(models.add_one(("N", 4)), free_dimension_overrides={"N": 3})
    assert by_name.inputs[0].shape == (3, 4)
    assert by_name.run({"x": np.zeros((3, 4), np.float32)})["y"].shape == (3, 4)
    with pytest.raises(ortn.InvalidInputError, match=r"\(dimension 0 must be 3\)"):
        by_name.run({"x": np.zeros((2, 4), np.float32)})
    by_denotation = make_session(
        _denoted_identity(), free_dimension_overrides_by_denotation={"DATA_BATCH": 5}
    )
    assert by_denotation.inputs[0].shape == (5, 2)
    assert make_session(_denoted_identity()).inputs[0].shape == ("B", 2)


def test_bad_free_dimension_overrides_are_refused():
    for bad in ({"N": -1}, {"N": "3"}, {"": 1}, ["N"]):
        with pytest.raises(ortn.InvalidArgumentError, match="free_dimension_overrides"):
            ortn.SessionOptions(free_dimension_overrides=bad)


# -- custom op libraries -----------------------------------------------------------------------


def _string_upper() -> bytes:
    import onnx
    from onnx import helper as h

    s = onnx.TensorProto.STRING
    graph = h.make_graph(
        [h.make_node("StringUpper", ["s"], ["u"], domain="ai.onnx.contrib")],
        "custom",
        [h.make_tensor_value_info("s", s, ["N"])],
        [h.make_tensor_value_info("u", s, ["N"])],
    )
    model = h.make_model(
        graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.contrib", 1)]
    )
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_custom_op_library_from_onnxruntime_extensions(make_session):
    import onnxruntime_extensions

    lib = onnxruntime_extensions.get_library_path()
    with pytest.raises(ortn.ModelLoadError, match="StringUpper"):
        make_session(_string_upper())
    s = make_session(_string_upper(), custom_op_libraries=[lib])
    out = s.run({"s": np.array(["abc", "Mixed 1"], dtype=object)})["u"]
    assert out.tolist() == ["ABC", "MIXED 1"]


def test_a_missing_custom_op_library_is_refused_alike():
    texts = _errors_on_both(
        lambda be: ortn.Session(
            models.add_one((1, 4)), backend=be, custom_op_libraries=["/nonexistent/libops.so"]
        )
    )
    assert texts[0].startswith(
        "InvalidArgumentError: model '<bytes>': registering the custom op library "
        "'/nonexistent/libops.so': "
    )


# -- weights from memory ----------------------------------------------------------------------


def test_initializers_from_memory_replace_the_models(make_session):
    one = np.full((), 5.0, np.float32)
    s = make_session(models.add_one((1, 4)), initializers={"one": one})
    del one  # the session keeps the array it reads
    assert (s.run({"x": X14})["y"] == 6).all()
    assert (make_session(models.add_one((1, 4))).run({"x": X14})["y"] == 2).all()


def test_initializers_must_be_numeric_arrays():
    with pytest.raises(ortn.InvalidArgumentError, match="must have a numeric dtype"):
        ortn.SessionOptions(initializers={"one": np.array(["a"])})
    with pytest.raises(ortn.InvalidArgumentError, match="must be a numpy array"):
        ortn.SessionOptions(initializers={"one": 5.0})
    strided = np.arange(8, dtype=np.float32)[::2]
    opts = ortn.SessionOptions(external_initializers={"w": strided})
    assert opts.external_initializers["w"].flags.c_contiguous  # one copy


@pytest.fixture
def external_model(tmp_path: Any) -> tuple[str, bytes, bytes, np.ndarray]:
    """A model whose weight w is external data in weights.bin beside it: (path, the
    model's bytes, the data file's bytes, w)."""
    import onnx
    from onnx import helper as h
    from onnx import numpy_helper
    from onnx.external_data_helper import convert_model_to_external_data

    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    f = onnx.TensorProto.FLOAT
    graph = h.make_graph(
        [h.make_node("Add", ["x", "w"], ["y"])],
        "external",
        [h.make_tensor_value_info("x", f, [3, 4])],
        [h.make_tensor_value_info("y", f, [3, 4])],
        [numpy_helper.from_array(w, "w")],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    convert_model_to_external_data(model, location="weights.bin", size_threshold=0)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return str(path), path.read_bytes(), (tmp_path / "weights.bin").read_bytes(), w


def test_external_data_from_a_path_and_from_memory(make_session, external_model):
    path, model_bytes, data, w = external_model
    x = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(make_session(path).run({"x": x})["y"], w)
    with pytest.raises(ortn.ModelLoadError, match=r"weights\.bin"):
        make_session(model_bytes)  # the data file is nowhere to be found
    from_memory = make_session(model_bytes, external_data={"weights.bin": data})
    np.testing.assert_array_equal(from_memory.run({"x": x})["y"], w)
    as_view = make_session(model_bytes, external_data={"weights.bin": bytearray(data)})
    np.testing.assert_array_equal(as_view.run({"x": x})["y"], w)
    replaced = make_session(model_bytes, external_initializers={"w": w * 2})
    np.testing.assert_array_equal(replaced.run({"x": x})["y"], w * 2)


# -- RunOptions -------------------------------------------------------------------------------

LOOP_FEEDS = {"x": np.full((64, 64), 0.5, np.float32)}
FOREVER = np.array(2**40)  # iterations no test could wait for: only terminate() ends it


def test_terminate_from_another_thread_ends_a_long_run(make_session):
    s = make_session(models.loop())
    ro = ortn.RunOptions(run_tag="long")
    started = time.perf_counter()
    timer = threading.Timer(0.2, ro.terminate)
    timer.start()
    with pytest.raises(ortn.RunTerminatedError) as info:
        s.run({**LOOP_FEEDS, "n": FOREVER}, run_options=ro)
    timer.join()
    took = time.perf_counter() - started
    assert isinstance(info.value, ortn.OrtError)
    assert str(info.value) == (
        "model '<bytes>': run terminated: RunOptions.terminate() was called "
        "(unset_terminate() lets runs with these options run again)"
    )
    assert info.value.ort_code == 1  # ORT's FAIL, as onnxruntime reports it
    assert ro.terminated
    assert took < 60, took  # the run had 2**40 iterations to go: it ended on the flag
    # Still terminated: a run with these options ends at once; without them, runs.
    with pytest.raises(ortn.RunTerminatedError):
        s.run({**LOOP_FEEDS, "n": np.array(2)}, run_options=ro)
    assert s.run({**LOOP_FEEDS, "n": np.array(2)})["y"].shape == (64, 64)
    ro.unset_terminate()
    assert not ro.terminated
    assert s.run({**LOOP_FEEDS, "n": np.array(2)}, run_options=ro)["y"].shape == (64, 64)


def test_terminate_stops_every_run_using_the_options(make_session):
    s = make_session(models.loop())
    ro = ortn.RunOptions()
    futures = [s.run_async({**LOOP_FEEDS, "n": FOREVER}, run_options=ro) for _ in range(3)]
    time.sleep(0.2)
    ro.terminate()
    for f in futures:
        with pytest.raises(ortn.RunTerminatedError):
            f.result(timeout=60)


def test_arun_takes_run_options(make_session):
    import asyncio

    s = make_session(models.loop())
    ro = ortn.RunOptions()

    async def main() -> None:
        task = asyncio.ensure_future(s.arun({**LOOP_FEEDS, "n": FOREVER}, run_options=ro))
        await asyncio.sleep(0.2)
        ro.terminate()
        with pytest.raises(ortn.RunTerminatedError):
            await asyncio.wait_for(task, 60)
        ro.unset_terminate()
        out = await s.arun({**LOOP_FEEDS, "n": np.array(1)}, run_options=ro)
        assert out["y"].shape == (64, 64)

    asyncio.run(main())


def test_run_options_fields_and_checks(make_session):
    ro = ortn.RunOptions(
        run_tag="t", log_severity_level=3, log_verbosity_level=1, config={"a.b": 1}
    )
    assert (ro.run_tag, ro.log_severity_level, ro.log_verbosity_level) == ("t", 3, 1)
    assert ro.config == {"a.b": "1"}
    s = make_session(models.add_one((1, 4)))
    assert (s.run({"x": X14}, run_options=ro)["y"] == 2).all()
    assert (s.run({"x": X14}, ["y"], out=None, run_options=None)["y"] == 2).all()
    for kwargs in ({"log_severity_level": 5}, {"log_verbosity_level": -1}, {"run_tag": 3}):
        with pytest.raises(ortn.InvalidArgumentError):
            ortn.RunOptions(**kwargs)
    with pytest.raises(
        ortn.InvalidTypeError, match=r"run_options must be an ortnative\.RunOptions"
    ):
        s.run({"x": X14}, run_options=onnxruntime.RunOptions())


def test_a_terminated_options_object_fails_runs_at_once_on_both_backends():
    ro = ortn.RunOptions()
    ro.terminate()  # before any backend made its own: each is made terminated
    _errors_on_both(
        lambda be: ortn.Session(models.add_one((1, 4)), backend=be).run({"x": X14}, run_options=ro)
    )


# -- maps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["int", "str"])
def test_zipmap_outputs_equal_onnxruntimes(make_session, labels):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    target = np.array(["no", "yes"])[y] if labels == "str" else y * 7
    model = to_onnx(LogisticRegression().fit(x, target), x[:1]).SerializeToString()
    want = onnxruntime.InferenceSession(model).run(None, {"X": x[:5]})
    got = make_session(model).run({"X": x[:5]})
    np.testing.assert_array_equal(got["output_label"], want[0])
    probabilities = got["output_probability"]
    assert type(probabilities) is list
    assert probabilities == want[1]
    key_type = str if labels == "str" else int
    for row in probabilities:
        assert type(row) is dict
        assert all(type(k) is key_type and type(v) is float for k, v in row.items())


# -- the shared pools' spinning ---------------------------------------------------------------


def test_shared_pools_spinning(backend):
    proc = _python(f"""
    import ortnative as ortn
    from ortnative import models
    ortn.set_global_thread_pools(0, 0, allow_spinning=False)
    s = ortn.Session(models.add_one((1, 4)), backend="{backend}", log_severity_level=0)
    if "{backend}" == "native":
        from ortnative import _core
        print("spinning", _core.global_thread_spinning())
        try:
            ortn.set_global_thread_pools(0, 0, allow_spinning=True)
        except ortn.InvalidArgumentError as e:
            print(e)
    """)
    assert proc.returncode == 0, proc.stderr
    if backend == "native":
        assert "spinning False" in proc.stdout
        assert "already exist (intra=0, inter=0, allow_spinning=false)" in proc.stdout
    else:
        # The fallback's per-session pools stand in for the shared ones: no spinning.
        line = _options_line(proc.stderr)
        assert "session.intra_op.allow_spinning: 0" in line
        assert "session.inter_op.allow_spinning: 0" in line
    with pytest.raises(ortn.InvalidArgumentError, match="allow_spinning"):
        ortn.set_global_thread_pools(0, 0, allow_spinning="no")  # type: ignore[arg-type]
