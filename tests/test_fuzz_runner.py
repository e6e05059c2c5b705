"""The fuzz tooling's own behaviour (tests/fuzz): paths that do not exist are refused
rather than made, and libFuzzer's artefacts stay out of the repository.

A target once given the path of a crash input that was elsewhere seeded a new
directory of that name at the repository root, which was then committed.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys

import pytest
from conftest import git

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
TARGETS = sorted(f[5:-3] for f in os.listdir(FUZZ) if f.startswith("fuzz_") and f.endswith(".py"))
ARTEFACTS = ("crash-*", "timeout-*", "oom-*", "leak-*", "slow-unit-*")

# Stands in for atheris, which the refusal must not need: the targets import it and
# wrap their imports in instrument_imports(); Setup() is where fuzzing would start.
STUB = """
import contextlib, sys
def instrument_imports(**kwargs):
    return contextlib.nullcontext()
def Setup(argv, test_one_input):
    print("atheris stub: Setup", argv[1:])
    sys.exit(0)
"""


def _target(name: str, *args: str, cwd: str, stub_dir: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (stub_dir, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, os.path.join(FUZZ, f"fuzz_{name}.py"), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def stub(tmp_path) -> str:
    d = tmp_path / "stub"
    d.mkdir()
    (d / "atheris.py").write_text(STUB)
    return str(d)


def test_targets_found():
    assert set(TARGETS) >= {"feeds", "model", "preprocess", "scheduler"}


@pytest.mark.parametrize("name", TARGETS)
def test_target_refuses_missing_path(name, stub, tmp_path):
    # What made the committed directory: reproducing a crash by a path that is not there.
    work = tmp_path / "work"
    work.mkdir()
    missing = "crash-fb9091f65b5937e9f62eb80977d1c8cee408a7fe"
    proc = _target(name, missing, "-runs=1", cwd=str(work), stub_dir=stub)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"fuzz_{name}.py: {missing}: no such file or directory" in proc.stderr
    assert "a corpus directory must exist" in proc.stderr
    assert "atheris stub" not in proc.stdout
    assert os.listdir(work) == []  # nothing made


def test_target_seeds_an_existing_corpus(stub, tmp_path):
    # The refusal leaves the normal case alone: an existing directory gets the seeds.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    proc = _target("feeds", str(corpus), "-runs=1", cwd=str(tmp_path), stub_dir=stub)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "atheris stub: Setup" in proc.stdout
    assert sorted(os.listdir(corpus)) == sorted(f"seed-bytes-{i}" for i in range(16))


def test_runner_refuses_missing_keep_dir(tmp_path):
    keep = tmp_path / "no" / "such"
    proc = subprocess.run(
        [sys.executable, os.path.join(FUZZ, "run.py"), "--seconds", "1", "--keep", str(keep)],
        check=False,
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"--keep {keep}: no such directory (mkdir it first)" in proc.stderr
    assert not (tmp_path / "no").exists()


def test_no_fuzz_artefacts_committed():
    proc = git("ls-files")
    assert proc.returncode == 0, proc.stderr
    tracked = proc.stdout.splitlines()
    parts = {p for path in tracked for p in path.split("/")}
    found = sorted(p for p in parts if any(fnmatch.fnmatch(p, a) for a in ARTEFACTS))
    assert found == []


def test_fuzz_artefacts_ignored():
    names = [a.replace("*", "0123abcd") for a in ARTEFACTS]
    proc = git("check-ignore", "--no-index", *names)  # exit status 1: none ignored
    assert proc.stdout.split() == names, proc.stderr
