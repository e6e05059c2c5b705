"""Placeholder: the Ray Serve deployment comes in a later commit."""

from __future__ import annotations

from typing import Any


def run_ray(cfg: Any, *, replicas: int, address: str | None, cpus_per_replica: float) -> int:
    raise NotImplementedError
