"""Where the native backend finds libonnxruntime (without importing onnxruntime)."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import sys

_PATTERNS = {
    "linux": "libonnxruntime.so*",
    "darwin": "libonnxruntime*.dylib",
    "win32": "onnxruntime.dll",
}


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", os.path.basename(path)))


def package_libraries() -> list[str]:
    """libonnxruntime files inside the installed onnxruntime (or -gpu) package."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return []
    pattern = _PATTERNS.get(sys.platform, "libonnxruntime.so*")
    found: list[str] = []
    for root in spec.submodule_search_locations:
        found += glob.glob(os.path.join(root, "capi", pattern))
    # Newest versioned file first (libonnxruntime.so.1.32.0 before libonnxruntime.so.1).
    return sorted(set(found), key=_version_key, reverse=True)


def candidates() -> list[str]:
    """What the native backend tries, in order.

    ``ORTNATIVE_ORT_LIBRARY`` if set (and nothing else); else the library inside the
    installed ``onnxruntime`` package; else nothing, which lets the core try the
    system's ``libonnxruntime``.
    """
    explicit = os.environ.get("ORTNATIVE_ORT_LIBRARY", "").strip()
    if explicit:
        return [explicit]
    return package_libraries()[:1]


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None
