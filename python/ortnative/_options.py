"""Session options: checked once here for both backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

from .errors import InvalidArgumentError

ProviderSpec = Union[str, "tuple[str, Mapping[str, Any]]"]

GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")


class SessionOptions(NamedTuple):
    providers: list[tuple[str, list[tuple[str, str]]]]
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization: str
    execution_mode: str
    config: dict[str, str]


def _threads(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{label} must be an int >= 0 (0 = shared pools), got {value!r}")
    return value


def normalize(
    providers: Sequence[ProviderSpec] | None,
    intra_op_threads: Any,
    inter_op_threads: Any,
    graph_optimization: Any,
    execution_mode: Any,
    config: Mapping[str, Any] | None,
) -> SessionOptions:
    provs: list[tuple[str, list[tuple[str, str]]]] = []
    if providers is not None:
        if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence):
            raise InvalidArgumentError(
                f"providers must be a list such as ['CPUExecutionProvider'], got {providers!r}"
            )
        for p in providers:
            if isinstance(p, str):
                provs.append((p, []))
            elif (
                isinstance(p, tuple)
                and len(p) == 2
                and isinstance(p[0], str)
                and isinstance(p[1], Mapping)
            ):
                provs.append((p[0], [(str(k), str(v)) for k, v in p[1].items()]))
            else:
                raise InvalidArgumentError(
                    f"each provider must be a name or a (name, {{option: value}}) pair, got {p!r}"
                )
    if graph_optimization not in GRAPH_OPTIMIZATIONS:
        raise InvalidArgumentError(
            f"graph_optimization must be one of {', '.join(map(repr, GRAPH_OPTIMIZATIONS))}, "
            f"got {graph_optimization!r}"
        )
    if execution_mode not in EXECUTION_MODES:
        raise InvalidArgumentError(
            f"execution_mode must be 'sequential' or 'parallel', got {execution_mode!r}"
        )
    cfg: dict[str, str] = {}
    if config is not None:
        if not isinstance(config, Mapping):
            raise InvalidArgumentError(f"config must be a dict of str to str, got {config!r}")
        for k, v in config.items():
            if not isinstance(k, str):
                raise InvalidArgumentError(f"config keys must be str, got {k!r}")
            cfg[k] = v if isinstance(v, str) else str(v)
    return SessionOptions(
        provs,
        _threads("intra_op_threads", intra_op_threads),
        _threads("inter_op_threads", inter_op_threads),
        graph_optimization,
        execution_mode,
        cfg,
    )
