"""``ortnative serve``'s settings: one schema from a TOML or YAML file and the command
line, checked with messages that name the file, the table and the key. (Parsing only:
no backend is involved; the servers in test_serve*.py run what this builds.)"""

from __future__ import annotations

import os
import textwrap

import pytest
from ortnative.cli import build_parser
from ortnative.errors import InvalidArgumentError
from ortnative.serve.cli import settings
from serve_util import need

TOML = """
[server]
host = "0.0.0.0"
port = 9001
threads = 3
max_body_mb = 8.5
drain_timeout_s = 5
metrics_prefix = "ortn"
auth_token_env = "MY_TOKEN"

[defaults]
max_batch_size = 8
max_queue_delay_ms = 0.5
[defaults.session]
intra_op_threads = 1

[models.mlp]
path = "models/mlp.onnx"
max_batch_size = 64
preferred_batch_sizes = [16, 32]
timeout_ms = 50
priority_levels = 3
warmup = true
[models.mlp.session]
graph_optimization = "basic"

[models.cnn]
replicas = 2
max_queue_size = 16
"""

YAML = """
server:
  host: 0.0.0.0
  port: 9001
  threads: 3
  max_body_mb: 8.5
  drain_timeout_s: 5
  metrics_prefix: ortn
  auth_token_env: MY_TOKEN
defaults:
  max_batch_size: 8
  max_queue_delay_ms: 0.5
  session: {intra_op_threads: 1}
models:
  mlp:
    path: models/mlp.onnx
    max_batch_size: 64
    preferred_batch_sizes: [16, 32]
    timeout_ms: 50
    priority_levels: 3
    warmup: true
    session: {graph_optimization: basic}
  cnn:
    replicas: 2
    max_queue_size: 16
"""


def _settings(argv: list[str]):
    return settings(build_parser().parse_args(["serve", *argv]))


@pytest.mark.parametrize("ext", ["toml", "yaml", "yml"])
def test_schema(tmp_path, ext):
    if ext != "toml":
        need("yaml")
    cfg_path = tmp_path / f"serve.{ext}"
    cfg_path.write_text(textwrap.dedent(TOML if ext == "toml" else YAML))
    cfg = _settings(["cnn.onnx", "--config", str(cfg_path)])
    assert (cfg.host, cfg.port, cfg.threads) == ("0.0.0.0", 9001, 3)
    assert cfg.max_body_bytes == int(8.5 * 1024 * 1024)
    assert (cfg.drain_timeout_s, cfg.metrics_prefix, cfg.auth_token_env) == (5, "ortn", "MY_TOKEN")
    # the command line's model first, then the file's, in order
    assert [m.name for m in cfg.models] == ["cnn", "mlp"]
    cnn, mlp = cfg.models
    assert cnn.path == "cnn.onnx"
    assert (cnn.replicas, cnn.max_batch_size, cnn.max_queue_size) == (2, 8, 16)
    assert cnn.session == {"intra_op_threads": 1}
    assert mlp.path == os.path.join(str(tmp_path), "models/mlp.onnx")  # relative to the file
    assert (mlp.max_batch_size, mlp.preferred_batch_sizes, mlp.timeout_ms) == (64, [16, 32], 50)
    assert (mlp.priority_levels, mlp.default_priority, mlp.warmup) == (3, 2, True)
    assert mlp.session == {"intra_op_threads": 1, "graph_optimization": "basic"}
    kw = mlp.scheduler_kwargs()
    assert kw["max_queue_delay_ms"] == 0.5
    assert kw["graph_optimization"] == "basic"


def test_command_line_over_file_defaults_under_model_tables(tmp_path):
    cfg_path = tmp_path / "serve.toml"
    cfg_path.write_text(textwrap.dedent(TOML))
    cfg = _settings(
        [
            "cnn.onnx",
            "--config",
            str(cfg_path),
            "--max-batch-size",
            "4",
            "--port",
            "0",
            "--intra-op-threads",
            "2",
            "--timeout-ms",
            "7.5",
        ]
    )
    cnn, mlp = cfg.models
    assert cfg.port == 0  # the command line wins over [server]
    assert cnn.max_batch_size == 4  # over [defaults]
    assert mlp.max_batch_size == 64  # a model's own table wins
    assert cnn.timeout_ms == 7.5
    assert cnn.session == {"intra_op_threads": 2}
    assert mlp.session == {"intra_op_threads": 2, "graph_optimization": "basic"}


def test_builtin_defaults():
    cfg = _settings(["path/to/my-model.v2.onnx"])
    assert (cfg.host, cfg.port, cfg.metrics_prefix) == ("127.0.0.1", 8000, "nv")
    assert cfg.max_body_bytes == 64 * 1024 * 1024
    (m,) = cfg.models
    assert m.name == "my-model.v2"
    assert (m.replicas, m.max_batch_size, m.max_queue_size, m.timeout_ms) == (1, 1, 1024, None)
    assert (m.priority_levels, m.default_priority, m.warmup, m.session) == (1, 1, False, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 'x'\n", r"\[server\]: port must be an int"),
        ("[server]\nhostname = 'a'\n", r"\[server\]: unknown setting 'hostname'"),
        ("[servers]\n", "unknown section 'servers'"),
        ("[models.m]\npath = 'm.onnx'\nmax_batch = 2\n", r"\[models.m\]: unknown setting"),
        ("[models.m]\npath = 'm.onnx'\nreplicas = 0\n", "replicas must be an int from 1"),
        ("[models.m]\npath = 'm.onnx'\nwarmup = 1\n", "warmup must be true or false"),
        ("[models.m]\npath = 'm.onnx'\ntimeout_ms = 0\n", "timeout_ms must be > 0"),
        ("[models.m]\npath = 'm.onnx'\nmax_queue_delay_ms = -1\n", "must be >= 0"),
        ("[models.m]\npath = 'm.onnx'\n[models.m.session]\nthreads = 1\n", "session option"),
        ("[models.'../etc']\npath = 'm.onnx'\n", "a model name must be"),
        ("[models.m]\nreplicas = 2\n", "has no path"),
        (
            "[models.m]\npath = 'm.onnx'\npriority_levels = 2\ndefault_priority_level = 3\n",
            "default_priority_level 3 is above",
        ),
        ("[models.m]\npath = 'm.onnx'\npreferred_batch_sizes = [8]\n", "above max_batch_size"),
        ("[server\n", "not valid TOML"),
        ("[models.m]\npath = 'm.onnx'\n[models.m.preprocess]\nsizes = 3\n", "preprocess option"),
        ("[defaults.preprocess]\nscale = 1.0\n", r"\[defaults\]: unknown setting 'preprocess'"),
    ],
)
def test_bad_config(tmp_path, text, message):
    cfg_path = tmp_path / "bad.toml"
    cfg_path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=message) as err:
        _settings(["--config", str(cfg_path)])
    assert str(cfg_path) in str(err.value) or "model" in str(err.value)


def test_bad_file_names(tmp_path):
    (tmp_path / "serve.ini").write_text("")
    with pytest.raises(InvalidArgumentError, match=r"\.toml, \.yaml or \.yml"):
        _settings(["--config", str(tmp_path / "serve.ini")])
    with pytest.raises(InvalidArgumentError, match="cannot read config file"):
        _settings(["--config", str(tmp_path / "missing.toml")])
    with pytest.raises(InvalidArgumentError, match="no models to serve"):
        _settings([])
    with pytest.raises(InvalidArgumentError, match="two models are named 'm'"):
        _settings(["a/m.onnx", "b/m.onnx"])
    (tmp_path / "c.toml").write_text("[models.m]\npath = 'x.onnx'\n")
    with pytest.raises(InvalidArgumentError, match="model 'm' is given twice"):
        _settings(["m.onnx", "--config", str(tmp_path / "c.toml")])
