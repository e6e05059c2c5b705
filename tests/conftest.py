"""Shared fixtures: every behavioural test runs on both backends."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import ortnative as ortn
import pytest
from ortnative import _backend

BACKENDS = ("native", "python")
# What each test module wants printed at the end (e.g. conformance counts).
SUMMARY: list[str] = []


def pytest_report_header(config: pytest.Config) -> list[str]:
    import numpy
    import onnxruntime

    native = "loaded" if _backend._native is not None else f"unavailable ({ortn.native_error})"
    return [
        f"ortnative {ortn.__version__}: default backend {ortn.backend}; native module {native}",
        f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}",
    ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("ortnative summary")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow (stress, soak) run only when selected: ``pytest -m slow``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow (stress) test: select it with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def load_tool(name: str) -> ModuleType:
    """tools/NAME.py as a module (the tools are scripts, not a package)."""
    import importlib.util
    import sys

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
    spec = importlib.util.spec_from_file_location(name, os.path.join(path, f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def check_error(err: BaseException, case: Any) -> None:
    """A bad-input case's error (tests/test_*_errors.py): an ortnative.Error of the
    case's type, also an instance of its built-in bases, with a matching message."""
    import re

    assert isinstance(err, ortn.Error)
    for base in case.also:
        assert isinstance(err, base)
    assert re.search(case.match, str(err)), str(err)


def git(*args: str) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in the source checkout. Skips outside one (the wheel check runs a copy of
    tests/); a missing git skips too, or, under CI, fails."""
    import shutil

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        pytest.skip("needs the git checkout (e.g. not when testing an installed wheel)")
    if shutil.which("git") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check the repository's files, but git is not on PATH")
        pytest.skip("git is not on PATH")
    return subprocess.run(
        ["git", *args], check=False, capture_output=True, text=True, cwd=root, timeout=60
    )


def require_backend(name: str) -> str:
    """Skips (or, under CI, fails) when BACKEND cannot run here, saying why."""
    if name == "native":
        try:
            _backend.native_module()
        except ImportError as exc:
            if os.environ.get("CI"):
                pytest.fail(f"CI must test the native backend, but it did not load: {exc}")
            pytest.skip(f"native backend unavailable here: {exc}")
    return name


def require_module(name: str, why: str) -> ModuleType:
    """NAME imported; skips without it (a test extra missing here), fails under CI."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test ({why}), but {name} is not installed: {exc}")
        pytest.skip(f"{name} is not installed ({why}): pip install -e '.[test]'")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return require_backend(request.param)


@pytest.fixture
def make_session(backend: str) -> Iterator[Callable[..., ortn.Session]]:
    """Session factory for the test's backend; closes what it made."""
    made: list[ortn.Session] = []

    def make(model: Any, **kw: Any) -> ortn.Session:
        s = ortn.Session(model, backend=backend, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def run_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Runs fn(i) on N threads that start together behind a barrier; returns results
    in order and re-raises the first exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a thread did not finish: deadlock?"
    if errors:
        raise errors[0]
    return results


# The server's tests (tests/test_serve*.py) share one server per backend, started once as
# a real process (`python -m ortnative serve ...`, see tests/serve_util.py).
SERVE_CONFIG = """
[server]
threads = 2
max_body_mb = 2

[models.mlp]            # batches concurrent clients: a wide window, so they meet
max_batch_size = 16
max_queue_delay_ms = 20

[models.slow]           # one run at a time, one request waiting at most
max_queue_size = 1
[models.slow.session]
intra_op_threads = 1

[models.gather]
max_batch_size = 4
max_queue_delay_ms = 1

[models.two]
priority_levels = 3

[models.cnn_pre]        # clients send raw BGR images; the server preprocesses them
max_batch_size = 4
[models.cnn_pre.preprocess]
scale = 0.00392156862745098
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
"""


@pytest.fixture(scope="session", params=BACKENDS)
def serve_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from serve_util import need, start, write_models

    backend = require_backend(request.param)
    need("tritonclient.http")
    need("httpx")
    tmp = tmp_path_factory.mktemp(f"serve-{backend}")
    paths = write_models(str(tmp))
    config = tmp / "serve.toml"
    config.write_text(SERVE_CONFIG)
    server = start(str(tmp), [*paths.values(), "--config", str(config)], backend, track=False)
    server.paths = paths
    yield server
    rc = server.stop()
    assert rc == 0, server.output()
