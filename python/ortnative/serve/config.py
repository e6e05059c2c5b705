"""``ortnative serve``'s settings: one schema, from the command line and a TOML or YAML file.

The schema (TOML shown; YAML has the same keys, and needs PyYAML)::

    [server]
    host = "127.0.0.1"        # the address to bind; 0.0.0.0 only when you mean it
    port = 8000               # 0: any free port (printed at start)
    threads = 0               # scheduler worker threads (0: one per CPU)
    backend = "native"        # or "python"; default: ortnative.backend
    max_body_mb = 64          # larger request bodies get 413
    drain_timeout_s = 30      # on SIGTERM/SIGINT, how long in-flight requests may take
    metrics_prefix = "nv"     # /metrics names: nv_inference_request_success, ...
    auth_token_env = "ORTNATIVE_SERVE_TOKEN"  # if this variable is set, infer needs
                                              # "Authorization: Bearer <its value>"
    access_log = false

    [defaults]                # every model's settings unless its own table says otherwise
    max_batch_size = 32

    [models.mlp]              # served as "mlp"
    path = "mlp.onnx"         # relative to this file
    replicas = 1              # concurrent runs of this model
    max_batch_size = 64       # rows per run; > 1 batches concurrent requests
    max_queue_delay_ms = 0.2  # how long a batch may wait for more requests
    preferred_batch_sizes = [16, 32]
    max_queue_size = 1024     # waiting requests at most; beyond: 503
    timeout_ms = 100          # a request still queued this long: 504 (none if absent)
    priority_levels = 2       # requests may ask "priority": 1 (first) .. 2
    default_priority_level = 2  # the level of requests that don't ask
    warmup = true             # run each batch size once before taking traffic
    [models.mlp.session]      # ortnative.Session options
    intra_op_threads = 1
    graph_optimization = "all"

    [models.cnn.preprocess]   # clients send raw images: UINT8 [N, H, W, C]
    input_order = "bgr"       # ImagePreprocessor options; size, layout and dtype
    mean = [0.485, 0.456, 0.406]  # come from the model's image input
    std = [0.229, 0.224, 0.225]
    scale = 0.00392156862745098

A model named on the command line (``serve path/mlp.onnx``) is called after its file's
stem (``mlp``); a ``[models.mlp]`` table without ``path`` then gives its settings. A
model's setting comes from its own table, else from the command line's options, else
from ``[defaults]``, else from the built-in default above.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["ModelConfig", "ServeConfig", "load_file", "resolve"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_PREPROCESS_KEYS = (
    "input",
    "size",
    "resize",
    "fit",
    "align",
    "input_order",
    "output_order",
    "scale",
    "mean",
    "std",
    "pad_value",
    "layout",
    "dtype",
    "threads",
)
_SESSION_KEYS = (
    "providers",
    "intra_op_threads",
    "inter_op_threads",
    "graph_optimization",
    "execution_mode",
    "config",
)


@dataclass
class ModelConfig:
    """One served model's settings (see the module docstring for each)."""

    name: str
    path: str
    replicas: int = 1
    max_batch_size: int = 1
    max_queue_delay_ms: float = 0.0
    preferred_batch_sizes: list[int] | None = None
    max_queue_size: int = 1024
    timeout_ms: float | None = None
    priority_levels: int = 1
    default_priority_level: int | None = None  # None: the middle level
    warmup: bool = False
    session: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] | None = None

    def scheduler_kwargs(self) -> dict[str, Any]:
        """What :meth:`ortnative.Scheduler.add_model` takes, besides name and model."""
        return {
            "replicas": self.replicas,
            "max_batch_size": self.max_batch_size,
            "max_queue_delay_ms": self.max_queue_delay_ms,
            "max_queue_size": self.max_queue_size,
            "timeout_ms": self.timeout_ms,
            "preferred_batch_sizes": self.preferred_batch_sizes,
            "warmup": self.warmup,
            **self.session,
        }

    @property
    def default_priority(self) -> int:
        if self.default_priority_level is not None:
            return self.default_priority_level
        return (self.priority_levels + 1) // 2


@dataclass
class ServeConfig:
    """The server's settings and its models, in order."""

    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 0
    backend: str | None = None
    max_body_mb: float = 64.0
    drain_timeout_s: float = 30.0
    metrics_prefix: str = "nv"
    auth_token_env: str = "ORTNATIVE_SERVE_TOKEN"
    access_log: bool = False
    models: list[ModelConfig] = field(default_factory=list)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def auth_token(self) -> str | None:
        """The bearer token infer requests need (None: no token), from the environment."""
        return os.environ.get(self.auth_token_env) or None


_SERVER_KEYS = {f.name for f in fields(ServeConfig)} - {"models"}
_MODEL_KEYS = {f.name for f in fields(ModelConfig)} - {"name"}


def _bad(where: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}: {message}")


def _check(where: str, key: str, value: Any) -> Any:
    """Checks one setting's type and range; returns it (ints as floats where needed)."""

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def number(low: float, strict: bool = False, none: bool = False) -> float | None:
        if value is None and none:
            return None
        if not (is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            raise _bad(where, f"{key} must be a number, got {value!r}")
        if value < low or (strict and value == low):
            raise _bad(where, f"{key} must be {'>' if strict else '>='} {low:g}, got {value!r}")
        return float(value)

    def integer(low: int, high: int = 2**31 - 1) -> int:
        if not is_int(value) or not low <= value <= high:
            raise _bad(where, f"{key} must be an int from {low} to {high}, got {value!r}")
        return int(value)

    ints = {
        "port": (0, 65535),
        "threads": (0, 4096),
        "replicas": (1, 4096),
        "max_batch_size": (1, 1 << 20),
        "max_queue_size": (1, 1 << 30),
        "priority_levels": (1, 1 << 20),
        "default_priority_level": (1, 1 << 20),
    }
    if key in ints:
        if key == "default_priority_level" and value is None:
            return None
        return integer(*ints[key])
    if key in ("max_queue_delay_ms",):
        return number(0.0)
    if key in ("drain_timeout_s",):
        return number(0.0)
    if key == "max_body_mb":
        return number(0.0, strict=True)
    if key == "timeout_ms":
        return number(0.0, strict=True, none=True)
    if key in ("warmup", "access_log"):
        if not isinstance(value, bool):
            raise _bad(where, f"{key} must be true or false, got {value!r}")
        return value
    if key in ("host", "path", "metrics_prefix", "auth_token_env"):
        if not isinstance(value, str) or not value:
            raise _bad(where, f"{key} must be a non-empty string, got {value!r}")
        return value
    if key == "backend":
        if value not in (None, "native", "python"):
            raise _bad(where, f"backend must be 'native' or 'python', got {value!r}")
        return value
    if key == "preferred_batch_sizes":
        if value is None:
            return None
        if not isinstance(value, list) or not all(is_int(v) and v >= 1 for v in value):
            raise _bad(where, f"preferred_batch_sizes must be a list of ints >= 1, got {value!r}")
        return list(value)
    if key == "preprocess":
        if not isinstance(value, dict):
            raise _bad(
                where, f"preprocess must be a table of ImagePreprocessor options, got {value!r}"
            )
        unknown = sorted(set(value) - set(_PREPROCESS_KEYS))
        if unknown:
            raise _bad(
                where,
                f"unknown preprocess option {unknown[0]!r} (options: {', '.join(_PREPROCESS_KEYS)})",
            )
        return dict(value)
    if key == "session":
        if not isinstance(value, dict):
            raise _bad(where, f"session must be a table of Session options, got {value!r}")
        unknown = sorted(set(value) - set(_SESSION_KEYS))
        if unknown:
            raise _bad(
                where,
                f"unknown session option {unknown[0]!r} (options: {', '.join(_SESSION_KEYS)})",
            )
        return dict(value)
    raise AssertionError(key)  # pragma: no cover - keys are checked before


def _table(where: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"must be a table, got {value!r}")
    out = {}
    for key, v in value.items():
        if key not in allowed:
            raise _bad(where, f"unknown setting {key!r} (settings: {', '.join(sorted(allowed))})")
        out[key] = _check(where, key, v)
    return out


def _model_name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _bad(
            where,
            f"a model name must be 1-128 letters, digits, '_', '-' or '.', not starting "
            f"with '-' or '.', got {name!r}",
        )
    return name


@dataclass
class FileSettings:
    """A config file, checked: [server], [defaults] and [models.NAME] tables."""

    server: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse(data: Any, where: str, base_dir: str = ".") -> FileSettings:
    """Checks a config's data (what TOML or YAML gave) against the schema."""
    if not isinstance(data, dict):
        raise _bad(where, "a config must be a table (mapping) at the top")
    unknown = sorted(set(data) - {"server", "defaults", "models"})
    if unknown:
        raise _bad(where, f"unknown section {unknown[0]!r} (sections: server, defaults, models)")
    out = FileSettings()
    out.server = _table(f"{where} [server]", data.get("server", {}), _SERVER_KEYS)
    out.defaults = _table(
        f"{where} [defaults]", data.get("defaults", {}), _MODEL_KEYS - {"path", "preprocess"}
    )
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise _bad(where, "[models] must be a table of model tables")
    for name, table in models.items():
        w = f"{where} [models.{name}]"
        _model_name(w, name)
        entry = _table(w, table, _MODEL_KEYS)
        if "path" in entry:
            entry["path"] = os.path.join(base_dir, os.path.expanduser(entry["path"]))
        out.models[name] = entry
    return out


def load_file(path: str) -> FileSettings:
    """Reads a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read config file {path}: {exc}") from None
    if ext == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgumentError(f"{path}: not valid TOML: {exc}") from None
    elif ext in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise InvalidArgumentError(
                f"{path}: YAML config files need PyYAML (pip install pyyaml), or use TOML"
            ) from None
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"{path}: not valid YAML: {exc}") from None
    else:
        raise InvalidArgumentError(
            f"config file {path}: the name must end in .toml, .yaml or .yml, to say its format"
        )
    return parse(data, path, os.path.dirname(os.path.abspath(path)))


def resolve(
    paths: list[str],
    file: FileSettings | None = None,
    server: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> ServeConfig:
    """The final settings: models from PATHS (named after their stems) and the file's
    [models], server settings from SERVER (command line) over the file's [server], and
    each model's settings from its table over MODEL_OPTIONS (command line) over
    [defaults]."""
    file = file or FileSettings()
    cli_server = _table("command line", dict(server or {}), _SERVER_KEYS)
    cli_model = _table(
        "command line", dict(model_options or {}), _MODEL_KEYS - {"path", "preprocess"}
    )
    cfg = ServeConfig(**{**file.server, **cli_server})
    tables = dict(file.models)
    order: list[str] = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = _model_name(f"model file {path}", stem)
        if name in order:
            raise InvalidArgumentError(f"two models are named {name!r}: rename one file")
        entry = tables.get(name, {})
        if "path" in entry:
            raise InvalidArgumentError(
                f"model {name!r} is given twice: {path} on the command line and "
                f"{entry['path']} in the config file"
            )
        tables[name] = {**entry, "path": path}
        order.append(name)
    order += [n for n in file.models if n not in order]
    for name in order:
        entry = tables[name]
        if "path" not in entry:
            raise InvalidArgumentError(
                f"model {name!r} in the config file has no path, and no {name}.onnx was "
                "named on the command line"
            )
        settings = {**file.defaults, **cli_model, **entry}
        settings["session"] = {  # session options merge key by key, in the same order
            **file.defaults.get("session", {}),
            **cli_model.get("session", {}),
            **entry.get("session", {}),
        }
        model = ModelConfig(name=name, **settings)
        _check_model(model)
        cfg.models.append(model)
    if not cfg.models:
        raise InvalidArgumentError("no models to serve: name .onnx files or a config's [models]")
    return cfg


def _check_model(m: ModelConfig) -> None:
    where = f"model {m.name!r}"
    if m.default_priority_level is not None and m.default_priority_level > m.priority_levels:
        raise _bad(
            where,
            f"default_priority_level {m.default_priority_level} is above priority_levels "
            f"{m.priority_levels}",
        )
    for size in m.preferred_batch_sizes or []:
        if size > m.max_batch_size:
            raise _bad(where, f"preferred batch size {size} is above max_batch_size")


def with_overrides(cfg: ServeConfig, **server: Any) -> ServeConfig:
    """A copy of CFG with server settings replaced (checked)."""
    return replace(cfg, **_table("override", server, _SERVER_KEYS))
