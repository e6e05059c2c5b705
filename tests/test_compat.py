"""ortnative.compat's own behaviours: install() / uninstall() and ``ortnative run`` in
fresh interpreters, what runs on ortnative and what is handed to onnxruntime, the
options mapping, pickling, and the namespace. (onnxruntime's API behaviours, checked
side by side with onnxruntime: test_compat_api.py; real libraries:
test_compat_libraries.py.)"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from typing import Any

import numpy as np
import onnxruntime
import ortnative as ortn
import pytest
from onnxruntime.capi import onnxruntime_pybind11_state as C
from onnxruntime.capi.onnxruntime_inference_collection import InferenceSession as OrtSession
from ortnative import compat, models
from ortnative.compat import _options


def _python(
    args: list[str], cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=full,
    )


X = {"x": np.ones((1, 4), np.float32)}


# -- import and install, in fresh interpreters ---------------------------------------
def test_import_ortnative_does_not_import_compat() -> None:
    code = (
        "import sys, ortnative; "
        "print(sorted(m for m in ('ortnative.compat', 'torch', 'silero_vad', 'magika', "
        "'sklearn', 'skl2onnx') if m in sys.modules))"
    )
    proc = _python(["-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


_INSTALL = """
    import numpy as np, onnxruntime, sys, os
    from ortnative import compat, models
    sys.path.insert(0, {tmp!r})
    m = models.add_one((1, 4))
    x = {{"x": np.ones((1, 4), np.float32)}}
    before = onnxruntime.InferenceSession(m)          # onnxruntime's own
    real = onnxruntime.InferenceSession
    compat.install(); compat.install()                # idempotent
    assert compat.installed()
    assert onnxruntime.InferenceSession is compat.InferenceSession
    assert onnxruntime.SessionOptions is compat.SessionOptions
    assert onnxruntime.NodeArg is compat.NodeArg
    import later                                      # does `from onnxruntime import ...`
    s = later.make(m)
    assert type(s) is compat.InferenceSession, type(s)
    assert s.ortnative_session is not None
    assert s.ortnative_session.backend == "{backend}", s.ortnative_session.backend
    assert isinstance(s, onnxruntime.InferenceSession)
    assert isinstance(before, onnxruntime.InferenceSession)   # made before install()
    assert isinstance(later.opts(), compat.SessionOptions)
    assert onnxruntime.__version__ == compat.__version__
    y = s.run(None, x)[0]
    compat.uninstall(); compat.uninstall()
    assert not compat.installed()
    assert onnxruntime.InferenceSession is real
    assert type(onnxruntime.InferenceSession(m)) is real
    assert (s.run(None, x)[0] == y).all() and (y == 2).all()    # still runs
    print("ok")
"""


def test_install_and_uninstall(backend: str, tmp_path: Any) -> None:
    (tmp_path / "later.py").write_text(
        "from onnxruntime import InferenceSession, SessionOptions\n"
        "def make(m):\n    return InferenceSession(m, providers=['CPUExecutionProvider'])\n"
        "def opts():\n    return SessionOptions()\n"
    )
    code = textwrap.dedent(_INSTALL.format(tmp=str(tmp_path), backend=backend))
    proc = _python(["-c", code], env={"ORTNATIVE_BACKEND": backend})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


_PROGRAM = """
import sys, os, onnxruntime
import helper                                   # next to the script: sys.path[0]
print("name", __name__)
print("argv", sys.argv[1:])
print("argv0", os.path.basename(sys.argv[0]))
print("class", onnxruntime.InferenceSession.__module__)
if __name__ == "__main__":
    if sys.argv[1:2] == ["exit"]:
        sys.exit(int(sys.argv[2]))
    if sys.argv[1:2] == ["raise"]:
        raise KeyError("boom")
"""


@pytest.fixture
def program(tmp_path: Any) -> str:
    (tmp_path / "prog.py").write_text(_PROGRAM)
    (tmp_path / "helper.py").write_text("")
    return str(tmp_path / "prog.py")


def test_run_script(program: str, tmp_path: Any) -> None:
    proc = _python(["-m", "ortnative", "run", program, "a", "--b", "-m", "c"], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "name __main__" in lines
    assert "argv ['a', '--b', '-m', 'c']" in lines
    assert "argv0 prog.py" in lines
    assert "class ortnative.compat" in lines
    plain = _python([program, "a"], cwd=str(tmp_path))
    assert "class onnxruntime.capi.onnxruntime_inference_collection" in plain.stdout


def test_run_exit_status_and_exceptions(program: str) -> None:
    assert _python(["-m", "ortnative", "run", program, "exit", "3"]).returncode == 3
    assert _python(["-m", "ortnative", "run", program, "exit", "0"]).returncode == 0
    proc = _python(["-m", "ortnative", "run", program, "raise"])
    assert proc.returncode == 1
    assert "KeyError: 'boom'" in proc.stderr


def test_run_module(tmp_path: Any) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("")
    (pkg / "main.py").write_text(_PROGRAM.replace("import helper", "from pkg import helper"))
    proc = _python(["-m", "ortnative", "run", "-m", "pkg.main", "x", "-y"], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "argv ['x', '-y']" in proc.stdout.splitlines()
    assert "argv0 main.py" in proc.stdout.splitlines()
    assert "class ortnative.compat" in proc.stdout.splitlines()
    proc = _python(["-m", "ortnative", "run", "-m", "pkg.main", "exit", "4"], cwd=str(tmp_path))
    assert proc.returncode == 4


def test_run_usage() -> None:
    # (the error cases themselves are catalogued in test_cli_errors.py)
    proc = _python(["-m", "ortnative", "run"])
    assert proc.returncode == 2
    assert "usage: ortnative run SCRIPT" in proc.stderr
    proc = _python(["-m", "ortnative", "run", "--help"])
    assert proc.returncode == 0
    assert "run -m MODULE" in proc.stdout


def test_python_backend_under_install_uses_onnxruntime_itself() -> None:
    # The fallback backend must reach onnxruntime's own class, not compat's (no recursion).
    code = (
        "from ortnative import compat, models; compat.install(); import onnxruntime, numpy\n"
        "s = onnxruntime.InferenceSession(models.add_one((1, 4)))\n"
        "assert s.ortnative_session.backend == 'python'\n"
        "print(s.run(None, {'x': numpy.ones((1, 4), numpy.float32)})[0].sum())"
    )
    proc = _python(["-c", code], env={"ORTNATIVE_BACKEND": "python"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "8.0"


# -- what runs where -----------------------------------------------------------------
def test_plain_sessions_run_on_ortnative(backend: str) -> None:
    so = compat.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    s = compat.InferenceSession(models.add_one((1, 4)), so, backend=backend)
    assert isinstance(s.ortnative_session, ortn.Session)
    assert s.ortnative_session.backend == backend
    assert s.ortnative_delegation is None
    assert "ortnative backend=" in repr(s)


def test_unsupported_options_go_to_onnxruntime_and_log_once(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ortnative.compat")
    _options._logged.clear()
    so = compat.SessionOptions()
    so.enable_mem_reuse = False  # ONNX Runtime's C API has no switch for it
    for _ in range(2):
        s = compat.InferenceSession(models.add_one((1, 4)), so, backend=backend)
        assert s.ortnative_session is None
        assert "enable_mem_reuse=False" in (s.ortnative_delegation or "")
        np.testing.assert_array_equal(s.run(None, X)[0], 2)
    handed = [r for r in caplog.records if "handing to onnxruntime" in r.getMessage()]
    assert len(handed) == 1
    assert handed[0].levelno == logging.DEBUG


def test_maps_run_on_ortnative(backend: str) -> None:
    from test_compat_api import zipmap

    s = compat.InferenceSession(zipmap(), backend=backend)
    probs = np.array([[0.1, 0.2, 0.7]], np.float32)
    assert s.run(["Z"], {"X": probs})[0] == OrtSession(zipmap()).run(["Z"], {"X": probs})[0]
    assert s.ortnative_session is not None
    assert s.ortnative_delegation is None


def test_session_knobs_run_on_ortnative(backend: str, tmp_path: Any) -> None:
    """What onnxruntime's SessionOptions asks that ortnative now does itself."""
    so = compat.SessionOptions()
    so.enable_cpu_mem_arena = False
    so.enable_mem_pattern = False
    so.use_deterministic_compute = True
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "trace")
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.log_severity_level = 3
    so.logid = "compat"
    so.add_free_dimension_override_by_name("N", 1)
    so.add_initializer("one", onnxruntime.OrtValue.ortvalue_from_numpy(np.full((), 3, np.float32)))
    s = compat.InferenceSession(models.add_one(("N", 4)), so, backend=backend)
    assert s.ortnative_delegation is None
    assert s.ortnative_session is not None
    assert s.get_inputs()[0].shape == [1, 4]
    np.testing.assert_array_equal(s.run(None, X)[0], 4)
    assert os.path.getsize(tmp_path / "optimized.onnx") > 0
    assert s.get_profiling_start_time_ns() > 0
    assert os.path.basename(s.end_profiling()).startswith("trace")


def test_run_options_run_on_ortnative_and_terminate(backend: str) -> None:
    s = compat.InferenceSession(models.loop(), backend=backend)
    feeds = {"x": np.full((64, 64), 0.5, np.float32), "n": np.array(2**40)}
    for ro in (compat.RunOptions(), onnxruntime.RunOptions()):
        ro.logid = "tag"
        ro.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        timer = threading.Timer(0.2, setattr, (ro, "terminate", True))
        timer.start()
        with pytest.raises(C.Fail, match="run terminated") as info:
            s.run(None, feeds, ro)  # on ortnative: onnxruntime's message says "Exiting"
        timer.join()
        assert isinstance(info.value, ortn.RunTerminatedError)
        ro.terminate = False
        assert s.run(None, {**feeds, "n": np.array(1)}, ro)[0].shape == (64, 64)
    adapters = onnxruntime.RunOptions()
    adapters.only_execute_path_to_fetches = True  # not in ortnative: the call goes to ORT
    assert s.run(None, {**feeds, "n": np.array(1)}, adapters)[0].shape == (64, 64)
    assert s.ortnative_session is not None


def test_calls_only_onnxruntime_takes(backend: str) -> None:
    from test_compat_api import overridable

    s = compat.InferenceSession(overridable(), backend=backend)
    x, w = np.ones(4, np.float32), np.full(4, 5, np.float32)
    np.testing.assert_array_equal(s.run(None, {"x": x, "w": w})[0], w)  # on onnxruntime
    np.testing.assert_array_equal(s.run(None, {"x": x}, compat.RunOptions())[0], 2)
    assert s.ortnative_session is not None  # the session itself stays on ortnative
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], 2)


def test_onnxruntime_methods_reach_a_real_session(backend: str) -> None:
    s = compat.InferenceSession(models.add_one((1, 4)), backend=backend)
    assert isinstance(s._sess, C.InferenceSession)
    infos = s.get_input_memory_infos()  # not implemented by compat: onnxruntime's
    assert len(infos) == 1
    with pytest.raises(AttributeError, match="no_such_method"):
        s.no_such_method  # noqa: B018
    assert s.get_tuning_results() == []


def test_big_endian_feed_is_read_correctly(backend: str) -> None:
    # onnxruntime reads a non-native byte order as native (wrong numbers); compat converts.
    s = compat.InferenceSession(models.add_one((1, 4)), backend=backend)
    x = np.arange(4, dtype=">f4").reshape(1, 4)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], np.arange(1, 5, dtype=np.float32)[None])


# -- options -------------------------------------------------------------------------
def _custom_ops() -> str:
    import onnxruntime_extensions

    return str(onnxruntime_extensions.get_library_path())


@pytest.mark.parametrize("cls", [compat.SessionOptions, C.SessionOptions], ids=["compat", "ort"])
def test_session_plan(cls: type) -> None:
    so = cls()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 3
    so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("my.own.key", "1")
    plan = _options.session_plan(so, ["CPUExecutionProvider"], [{"use_arena": "0"}], {})
    assert plan.gaps == []
    assert plan.kwargs == {
        "intra_op_threads": 2,
        "inter_op_threads": 3,
        "graph_optimization": "basic",
        "execution_mode": "parallel",
        "log_severity_level": 3,
        "config": {"session.intra_op.allow_spinning": "0", "my.own.key": "1"},
    }
    assert plan.providers == ["CPUExecutionProvider"]
    assert plan.provider_options == [{}]
    so.enable_mem_pattern = False
    so.enable_profiling = True
    so.optimized_model_filepath = "x.onnx"
    so.add_free_dimension_override_by_name("N", 1)
    so.add_free_dimension_override_by_denotation("DATA_BATCH", 2)
    so.register_custom_ops_library(_custom_ops())
    w = np.ones(3, np.float32)
    so.add_initializer("w", onnxruntime.OrtValue.ortvalue_from_numpy(w))
    so.add_external_initializers(["e"], [onnxruntime.OrtValue.ortvalue_from_numpy(w * 2)])
    so.add_external_initializers_from_files_in_memory(["d.bin"], [b"abcd"], [3])
    plan = _options.session_plan(so, [], [], {})
    assert plan.gaps == []
    kw = plan.kwargs
    assert kw["enable_mem_pattern"] is False
    assert kw["enable_profiling"] is True
    assert kw["optimized_model_filepath"] == "x.onnx"
    assert kw["free_dimension_overrides"] == {"N": 1}
    assert kw["free_dimension_overrides_by_denotation"] == {"DATA_BATCH": 2}
    assert kw["custom_op_libraries"] == [_custom_ops()]
    np.testing.assert_array_equal(kw["initializers"]["w"], w)
    np.testing.assert_array_equal(kw["external_initializers"]["e"], w * 2)
    assert bytes(kw["external_data"]["d.bin"]) == b"abc"
    so.enable_mem_reuse = False
    layout = getattr(onnxruntime.GraphOptimizationLevel, "ORT_ENABLE_LAYOUT", None)  # 1.22+
    if layout is not None:
        so.graph_optimization_level = layout
    so.set_load_cancellation_flag(False)
    plan = _options.session_plan(so, [], [], {"disabled_optimizers": ["ConstantFolding"]})
    assert plan.gaps == [
        *(["graph_optimization_level=ORT_ENABLE_LAYOUT"] if layout is not None else []),
        "enable_mem_reuse=False (ONNX Runtime's C API has no switch for it)",
        "set_load_cancellation_flag",
        "disabled_optimizers",
    ]
    assert _options.delegation_reason(plan=plan) is not None
    assert _options.session_plan(None, [], [], {}).kwargs == {}


def test_compat_session_options_are_onnxruntimes() -> None:
    so = compat.SessionOptions()
    assert isinstance(so, C.SessionOptions)
    s = OrtSession(models.add_one((1, 4)), so)  # onnxruntime takes it as is
    np.testing.assert_array_equal(s.run(None, X)[0], 2)
    assert isinstance(compat.RunOptions(), C.RunOptions)
    assert compat.GraphOptimizationLevel is onnxruntime.GraphOptimizationLevel


# -- pickling and errors -------------------------------------------------------------
def test_session_pickles_with_its_options(backend: str, tmp_path: Any) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(models.add_one((1, 4)))
    so = compat.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for source in (str(path), path.read_bytes()):
        s = compat.InferenceSession(source, so, providers=["CPUExecutionProvider"], backend=backend)
        s2 = pickle.loads(pickle.dumps(s))
        assert type(s2) is compat.InferenceSession
        assert s2.ortnative_session is not None
        assert s2.ortnative_session.backend == backend
        assert s2.get_session_options().intra_op_num_threads == 1
        assert s2._compat_plan.kwargs["config"] == {"session.intra_op.allow_spinning": "0"}
        np.testing.assert_array_equal(s2.run(None, X)[0], 2)


class Tagged(compat.InferenceSession):
    """A subclass that adds state and no pickling of its own."""

    def __init__(self, model: Any, tag: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.tag = tag


def test_subclass_state_pickles(backend: str) -> None:
    s = Tagged(models.add_one((1, 4)), "mine", backend=backend)
    s2 = pickle.loads(pickle.dumps(s))
    assert type(s2) is Tagged
    assert s2.tag == "mine"
    np.testing.assert_array_equal(s2.run(None, X)[0], 2)


def test_pickling_refuses_what_it_would_lose() -> None:
    so = compat.SessionOptions()
    so.set_load_cancellation_flag(False)
    s = compat.InferenceSession(models.add_one(("N", 4)), so)
    with pytest.raises(TypeError, match="set_load_cancellation_flag"):
        pickle.dumps(s)


def test_pickling_keeps_the_calls_ortnative_honours(backend: str) -> None:
    so = compat.SessionOptions()
    so.add_free_dimension_override_by_name("N", 1)
    so.add_initializer("one", onnxruntime.OrtValue.ortvalue_from_numpy(np.full((), 7, np.float32)))
    s = compat.InferenceSession(models.add_one(("N", 4)), so, backend=backend)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.ortnative_session is not None
    assert s2.get_inputs()[0].shape == [1, 4]
    np.testing.assert_array_equal(s2.run(None, X)[0], 8)


def test_unknown_attributes_make_no_onnxruntime_session(backend: str) -> None:
    s = compat.InferenceSession(models.add_one((1, 4)), backend=backend)
    assert not hasattr(s, "no_such_thing")
    assert getattr(s, "_inputs_meta")[0].name == "x"  # noqa: B009 - onnxruntime's attribute
    assert s._compat_ort is None
    assert len(s.get_input_memory_infos()) == 1  # onnxruntime's method: a session now
    assert s._compat_ort is not None


def test_errors_are_both_and_pickle() -> None:
    s = compat.InferenceSession(models.add_one((1, 4)))
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones((1, 4))})
    err = info.value
    assert isinstance(err, ortn.InvalidTypeError)
    assert isinstance(err, TypeError)
    assert type(err).__module__ == "ortnative.compat.errors"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err)
    assert str(again) == str(err)
    code = (
        "import pickle, sys; e = pickle.loads(sys.stdin.buffer.read()); "
        "import ortnative; from onnxruntime.capi import onnxruntime_pybind11_state as C; "
        "print(isinstance(e, ortnative.InvalidTypeError), isinstance(e, C.InvalidArgument))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(err),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == ["True", "True"]


def test_delegated_session_errors_are_both() -> None:
    so = compat.SessionOptions()
    so.enable_profiling = False
    so.enable_mem_reuse = False
    s = compat.InferenceSession(models.add_one((1, 4)), so)
    assert s.ortnative_session is None
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones((1, 4))})
    assert isinstance(info.value, ortn.InvalidTypeError)
    assert "model '<bytes>'" in str(info.value)
    with pytest.raises(RuntimeError) as info2:
        s.run(None, {"x": 1.0})
    assert isinstance(info2.value, ortn.InvalidTypeError)


# -- the namespace -------------------------------------------------------------------
def test_namespace() -> None:
    assert compat.OrtValue is onnxruntime.OrtValue
    assert compat.IOBinding is onnxruntime.IOBinding
    assert compat.__version__ == ortn.ort_version()
    assert compat.get_version_string() == ortn.ort_version()
    assert "CPUExecutionProvider" in compat.get_available_providers()
    assert "CPUExecutionProvider" in compat.get_all_providers()
    assert compat.get_device() == onnxruntime.get_device()
    compat.set_default_logger_severity(3)
    assert "InferenceSession" in dir(compat)
    assert "OrtValue" in dir(compat)
    with pytest.raises(AttributeError, match="no_such_name"):
        compat.no_such_name  # noqa: B018
    assert isinstance(OrtSession(models.add_one((1, 4))), compat.InferenceSession)
    assert not isinstance(object(), compat.InferenceSession)
    assert issubclass(OrtSession, compat.InferenceSession)


def test_node_arg_and_metadata() -> None:
    arg = compat.NodeArg("x", "tensor(float)", ["N", 4])
    assert str(arg) == repr(arg) == "NodeArg(name='x', type='tensor(float)', shape=['N', 4])"
    md = compat.ModelMetadata(producer_name="p", version=3, custom_metadata_map={"a": "b"})
    assert (md.producer_name, md.version, md.custom_metadata_map) == ("p", 3, {"a": "b"})
