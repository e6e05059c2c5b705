"""The docs match the tree: the README's Layout names every top-level directory, file
paths cited in code and docs exist, and the changelog groups its entries the way the
house style says (Added / Changed / Fixed)."""

from __future__ import annotations

import os
import re

from conftest import git

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A cited repository path: a top-level directory, then a file with a known extension.
CITED = re.compile(
    r"\b(?:cpp|python|tests|tools|bench|docs|third_party|\.ci)/[A-Za-z0-9_./-]*"
    r"\.(?:py|pyi|cpp|hpp|h|md|sh|toml|yaml|yml|json|cmake|supp)\b"
)
CHANGELOG_SECTIONS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _tracked() -> list[str]:
    proc = git("ls-files")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of its level or higher."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    end = re.search(rf"\n#{{1,{level}}} ", text[start:])
    return text[start : start + end.start()] if end else text[start:]


def test_readme_layout_names_every_directory():
    dirs = {path.split("/")[0] + "/" for path in _tracked() if "/" in path}
    dirs.add("tests/fuzz/")
    layout = _section(_read("README.md"), "## Layout")
    block = layout.split("```")[1]
    entries = [
        e.strip()
        for line in block.splitlines()
        if line.strip()
        for e in line.split("  ")[0].split(",")
    ]
    missing = sorted(d for d in dirs if not any(e.startswith(d) for e in entries))
    assert missing == [], f"the README's Layout does not mention {missing}"


def test_cited_files_exist():
    # Paths written out in comments, docstrings and docs, e.g. "mirrors
    # python/ortnative/_fallback.py": each must name a file of the tree. Patterns
    # (tools/NAME.py, bench/results/*.tmp) are not citations.
    tracked = _tracked()
    missing = []
    for path in tracked:
        if path.startswith(("tests/fuzz/corpus/", "bench/results/")):
            continue
        try:
            text = _read(path)
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        for cited in set(CITED.findall(text)):
            if "NAME" in cited or any(c in cited for c in "*{}"):
                continue
            if not os.path.exists(os.path.join(ROOT, cited)):
                missing.append(f"{path} cites {cited}")
    assert missing == []


def test_changelog_sections():
    text = _read("CHANGELOG.md")
    headings = re.findall(r"^### (.+)$", text, re.MULTILINE)
    assert headings, "no ### sections"
    assert set(headings) <= set(CHANGELOG_SECTIONS), headings
    unreleased = _section(text, "## Unreleased")
    found = re.findall(r"^### (.+)$", unreleased, re.MULTILINE)
    assert found == [s for s in CHANGELOG_SECTIONS if s in found], "out of order"
    assert {"Added", "Fixed"} <= set(found)
