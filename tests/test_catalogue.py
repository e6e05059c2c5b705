"""docs/bad-inputs.md is generated from the tests' CASES (tools/catalogue.py): it must
match them, and the catalogue must keep its promised size."""

from __future__ import annotations

from types import ModuleType

import pytest
import test_cli_errors
import test_errors
import test_preprocess_errors
import test_scheduler_errors
from conftest import load_tool


@pytest.fixture(scope="module")
def catalogue() -> ModuleType:
    """tools/catalogue.py (loaded here, not at collection: the wheel check runs the smoke
    tests from a copy of tests/ alone)."""
    return load_tool("catalogue")


def test_docs_match_the_tests(catalogue):
    with open(catalogue.DOC, encoding="utf-8") as f:
        assert f.read() == catalogue.render(), "run: python tools/catalogue.py"


def test_catalogue_covers_every_part_of_the_api():
    sizes = {
        "session": len(test_errors.CASES),
        "preprocess": len(test_preprocess_errors.CASES),
        "scheduler": len(test_scheduler_errors.CASES),
        "cli": len(test_cli_errors.CASES),
    }
    assert sum(sizes.values()) >= 40, sizes
    assert min(sizes.values()) >= 5, sizes
    for mod in (test_errors, test_preprocess_errors, test_scheduler_errors, test_cli_errors):
        ids = [c.id for c in mod.CASES]
        assert len(set(ids)) == len(ids), f"{mod.__name__}: case ids must be unique"


def test_readable_messages(catalogue):
    assert catalogue.readable(r"^a \(b\) c\.$") == "a (b) c."
    assert catalogue.readable(r"x .* y") == "…x … y…"
    assert catalogue.readable(r"^got \d+$") == "got <n>"
