"""Import-time behaviour, each in a fresh interpreter: backend choice and forcing,
living next to plain onnxruntime in either import order, and clear errors when ONNX
Runtime is missing or the library given is not one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import require_backend


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    for k in ("ORTNATIVE_BACKEND", "ORTNATIVE_ORT_LIBRARY"):
        full_env.pop(k, None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


_USE_BOTH = """
    import numpy as np
    {first}
    {second}
    from ortnative import models
    m = models.add_one((1, 4))
    x = np.ones((1, 4), np.float32)
    a = onnxruntime.InferenceSession(m).run(None, {{"x": x}})[0]
    s = ortnative.Session(m, backend="{backend}")
    b = s.run({{"x": x}})["y"]
    c = onnxruntime.InferenceSession(m).run(None, {{"x": x}})[0]  # onnxruntime still fine
    assert (a == b).all() and (b == c).all() and (a == 2).all()
    print("ok", ortnative.backend)
"""


@pytest.mark.smoke
@pytest.mark.parametrize("order", ["ortnative-first", "onnxruntime-first"])
def test_works_next_to_onnxruntime(backend, order):
    first, second = "import ortnative", "import onnxruntime"
    if order == "onnxruntime-first":
        first, second = second, first
    proc = _python(_USE_BOTH.format(first=first, second=second, backend=backend))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_force_python_backend():
    proc = _python(
        "import sys, ortnative; print(ortnative.backend, 'ortnative._core' in sys.modules)",
        {"ORTNATIVE_BACKEND": "python"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python", "False"]


def test_force_native_backend():
    require_backend("native")
    proc = _python("import ortnative; print(ortnative.backend)", {"ORTNATIVE_BACKEND": "native"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "native"


_BLOCK_CORE = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "ortnative._core":
                raise ImportError("simulated: the extension cannot load here")
    sys.meta_path.insert(0, Block())
"""


def test_fallback_when_native_cannot_load():
    proc = _python(
        _BLOCK_CORE
        + """
    import numpy as np, ortnative
    from ortnative import models
    print(ortnative.backend)
    print(ortnative.native_error)
    s = ortnative.Session(models.add_one((1, 4)))
    assert (s.run({"x": np.zeros((1, 4), np.float32)})["y"] == 1).all()
    """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "python"
    assert "simulated: the extension cannot load here" in lines[1]


def test_forcing_native_when_it_cannot_load_says_why():
    proc = _python(_BLOCK_CORE + "    import ortnative\n", {"ORTNATIVE_BACKEND": "native"})
    assert proc.returncode != 0
    assert "ORTNATIVE_BACKEND=native, but ortnative._core did not load" in proc.stderr
    assert "simulated: the extension cannot load here" in proc.stderr


def test_bad_backend_value():
    proc = _python("import ortnative", {"ORTNATIVE_BACKEND": "gpu"})
    assert proc.returncode != 0
    assert "ORTNATIVE_BACKEND must be 'native' or 'python'" in proc.stderr


def test_missing_onnxruntime_says_what_to_install():
    # The package looks for onnxruntime with importlib.util.find_spec (without
    # importing it); make that find nothing.
    proc = _python("""
    import importlib.util
    real = importlib.util.find_spec
    importlib.util.find_spec = lambda name, package=None: (
        None if name.split(".")[0] == "onnxruntime" else real(name, package))
    import ortnative
    """)
    assert proc.returncode != 0
    assert "ImportError: ortnative needs ONNX Runtime" in proc.stderr
    assert "pip install onnxruntime" in proc.stderr


def test_bad_library_path_is_a_clear_error(tmp_path):
    require_backend("native")
    not_a_lib = tmp_path / "libonnxruntime.so"
    not_a_lib.write_text("not a shared library")
    proc = _python(
        """
    import ortnative
    try:
        ortnative.ort_version("native")
    except ortnative.RuntimeLoadError as e:
        print("RuntimeLoadError", e)
    """,
        {"ORTNATIVE_ORT_LIBRARY": str(not_a_lib)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("RuntimeLoadError")
    assert str(not_a_lib) in proc.stdout
    assert "could not open" in proc.stdout
    assert "ORTNATIVE_ORT_LIBRARY" in proc.stdout


# Prints the path of the libonnxruntime the native backend loaded (load_runtime
# returns the first load's).
_LOADED = """
    import ortnative
    from ortnative import _backend
    ortnative.ort_version("native")
    print(_backend.native_module().load_runtime([])[0])
"""


def test_library_from_environment_wins(tmp_path):
    # ORTNATIVE_ORT_LIBRARY is tried before the onnxruntime package's library: the same
    # library under another path (a symlink) is the one loaded.
    require_backend("native")
    from ortnative import _ortlib

    packaged = _ortlib.package_libraries()
    assert packaged, "the onnxruntime package (a dependency) has no libonnxruntime"
    link = tmp_path / "elsewhere" / os.path.basename(packaged[0])
    link.parent.mkdir()
    link.symlink_to(packaged[0])
    proc = _python(_LOADED, {"ORTNATIVE_ORT_LIBRARY": str(link)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(link)
    proc = _python(_LOADED)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == packaged[0]  # without it, the package's


def test_library_without_ort_symbol(tmp_path):
    require_backend("native")
    import ortnative

    # Any real shared library that is not ONNX Runtime: the extension itself.
    lib = ortnative._backend.native_module().__file__
    proc = _python(
        """
    import ortnative
    try:
        ortnative.ort_version("native")
    except ortnative.RuntimeLoadError as e:
        print(e)
    """,
        {"ORTNATIVE_ORT_LIBRARY": lib},
    )
    assert proc.returncode == 0, proc.stderr
    assert "has no OrtGetApiBase symbol" in proc.stdout


def test_thread_pool_sizes_from_environment(backend):
    proc = _python(
        f"""
    import numpy as np, ortnative
    from ortnative import models
    s = ortnative.Session(models.add_one((1, 4)), backend="{backend}")
    assert (s.run({{"x": np.zeros((1, 4), np.float32)}})["y"] == 1).all()
    print("ok")
    """,
        {"ORTNATIVE_INTRA_OP_THREADS": "1", "ORTNATIVE_INTER_OP_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr


def test_bad_thread_pool_environment(backend):
    proc = _python(
        f"""
    import ortnative
    from ortnative import models
    try:
        ortnative.Session(models.add_one((1, 4)), backend="{backend}")
    except ortnative.InvalidArgumentError as e:
        print(e)
    """,
        {"ORTNATIVE_INTRA_OP_THREADS": "many"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "ORTNATIVE_INTRA_OP_THREADS='many' is not a thread count" in proc.stdout


_LOG_LEVEL_ERROR = (
    "InvalidArgumentError ValueError environment variable ORTNATIVE_LOG_LEVEL='{}' is not "
    "a log level (an integer from 0 to 4: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal)"
)
# Made in a fresh process started with ORTNATIVE_LOG_LEVEL bad: the import is fine, each
# session made raises while the variable is bad (each time read again, as when the first
# one fails), none once it is good, and after that first good session it is not read.
_LOG_LEVEL_SCRIPT = """
    import os, sys
    import ortnative
    from ortnative import models

    def make():
        try:
            ortnative.Session(models.add_one((1, 4)), backend="{backend}")
            print("ok")
        except ortnative.InvalidArgumentError as e:
            print(type(e).__name__, "ValueError" if isinstance(e, ValueError) else "-", e)

    make()
    for value in sys.argv[1:]:
        os.environ["ORTNATIVE_LOG_LEVEL"] = value
        make()
    os.environ["ORTNATIVE_LOG_LEVEL"] = "3"
    make()
    os.environ["ORTNATIVE_LOG_LEVEL"] = "junk"  # read once: too late now
    make()
"""
BAD_LOG_LEVELS = ["-1", "5", "44", "2.0", "4x", "+1", " 1 2", "\u0663", "fatal", "0x1"]


def test_log_level_environment_is_checked(backend):
    # One behaviour on both backends: the core's (an error naming the variable and the
    # range, at session creation), not the fallback's old silent 4 and clamping.
    env = {**os.environ, "ORTNATIVE_LOG_LEVEL": "abc"}
    env.pop("ORTNATIVE_BACKEND", None)
    script = textwrap.dedent(_LOG_LEVEL_SCRIPT.format(backend=backend))
    proc = subprocess.run(
        [sys.executable, "-c", script, *BAD_LOG_LEVELS],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    want = [_LOG_LEVEL_ERROR.format(v) for v in ["abc", *BAD_LOG_LEVELS]] + ["ok", "ok"]
    assert proc.stdout.splitlines() == want
    assert proc.stderr == ""


def test_log_level_bytes_not_utf8(backend):
    # A value that is not UTF-8 is shown with backslash escapes by both backends.
    env = {**os.environb, b"ORTNATIVE_LOG_LEVEL": b"\xff1"}
    env.pop(b"ORTNATIVE_BACKEND", None)
    script = textwrap.dedent(_LOG_LEVEL_SCRIPT.format(backend=backend))
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode().splitlines()
    assert out == [_LOG_LEVEL_ERROR.format("\\xff1"), "ok", "ok"]


@pytest.mark.parametrize("value", ["", " ", "4", " 3\t", "04", "0", "000"])
def test_log_level_values(backend, value):
    proc = _python(
        f"""
    import numpy as np, ortnative
    from ortnative import models
    s = ortnative.Session(models.add_one((1, 4)), backend="{backend}")
    assert (s.run({{"x": np.zeros((1, 4), np.float32)}})["y"] == 1).all()
    """,
        {"ORTNATIVE_LOG_LEVEL": value},
    )
    assert proc.returncode == 0, proc.stderr
    if value.strip() in ("0", "000"):  # verbose: ORT says what it does
        assert "Session successfully initialized" in proc.stderr
    else:
        assert proc.stderr == ""


def test_set_global_thread_pools_after_start_is_refused():
    require_backend("native")
    proc = _python("""
    import ortnative
    from ortnative import models
    ortnative.set_global_thread_pools(2, 1)
    s = ortnative.Session(models.add_one((1, 4)), backend="native")
    ortnative.set_global_thread_pools(2, 1)  # same sizes: fine
    try:
        ortnative.set_global_thread_pools(1, 1)
    except ortnative.InvalidArgumentError as e:
        print(e)
    """)
    assert proc.returncode == 0, proc.stderr
    assert (
        "the shared thread pools already exist (intra=2, inter=1, allow_spinning=true)"
        in proc.stdout
    )


def test_optional_extras_stay_unimported():
    """``import ortnative`` and its command line (parsing included, serve's options too)
    import no server, Ray or serving library; ``ortnative.serve`` imports Starlette only
    when its app is used."""
    proc = _python(
        """
        import sys, ortnative, ortnative.cli, ortnative.serve, ortnative.serve.config
        ortnative.cli.build_parser().parse_args(["serve", "m.onnx", "--max-batch-size", "4"])
        heavy = ("starlette", "uvicorn", "orjson", "ray", "fastapi", "yaml", "tritonclient")
        loaded = sorted(m for m in heavy if m in sys.modules)
        print("loaded:", loaded)
        from ortnative.serve import app
        print("after app:", "starlette" in sys.modules)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "loaded: []" in proc.stdout
    assert "after app: True" in proc.stdout


@pytest.mark.smoke
def test_import_needs_only_the_declared_dependencies(backend, tmp_path):
    """Every module ``import ortnative`` (and a run on the backend) loads is the standard
    library's, ortnative's, or a distribution reachable from ortnative's required
    dependencies: a stray runtime import of a package that merely happens to be installed
    here (``typing_extensions`` once, only the wheel check's clean venv caught it) fails.
    (``ortnative.models`` needs ``onnx``, a test extra: the model is made out here.)"""
    from ortnative import models

    path = tmp_path / "add_one.onnx"
    path.write_bytes(models.add_one((1, 4)))
    proc = _python(
        f"""
        import sys
        before = set(sys.modules)  # what site's .pth files imported is not ours
        import re
        from importlib import metadata
        import numpy as np
        import ortnative
        s = ortnative.Session({str(path)!r}, backend="{backend}")
        s.run({{"x": np.ones((1, 4), np.float32)}})

        def requirements(dist):
            out = []
            for req in metadata.requires(dist) or []:
                if "extra ==" in req:
                    continue
                out.append(re.split(r"[ ;<>=!~\\[(]", req, maxsplit=1)[0])
            return out

        norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
        allowed, todo = set(), ["ortnative"]
        while todo:
            d = norm(todo.pop())
            if d in allowed:
                continue
            allowed.add(d)
            try:
                todo += requirements(d)
            except metadata.PackageNotFoundError:
                pass
        owners = metadata.packages_distributions()
        stray = set()
        optional = {{"ml_dtypes"}}  # used for bfloat16 when installed, documented
        for name in set(sys.modules) - before:
            top = name.partition(".")[0]
            if top in optional:
                continue
            if top in sys.stdlib_module_names or top.startswith("_") or top == "ortnative":
                continue
            dists = {{norm(d) for d in owners.get(top, [])}}
            if dists and not dists & allowed:
                stray.add(f"{{top}} ({{', '.join(sorted(dists))}})")
        print("stray:", sorted(stray))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "stray: []" in proc.stdout, proc.stdout
