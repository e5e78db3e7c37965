"""Shared fixtures: a tiny sweep file factory, the path of ../shared/external, and a loader for scripts/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_EXTERNAL = REPO.parent / "shared" / "external"

TINY_SWEEP = {
    "name": "tiny",
    "data": {"source": "synthetic", "context_length": 16, "eval_tokens": 2048,
             "synthetic": {"vocab_size": 16, "order": 2, "train_tokens": 65536}},
    "model": {"family": "gpt2", "shapes": [{"n_layer": 2, "d_model": 32, "n_head": 2}]},
    "budgets": {"mode": "grid", "tokens": [8192]},
    "training": {"batch_tokens": 256, "checkpoint_interval": 8, "eval_interval": 16},
}


def load_script(name: str):
    """The module of ``scripts/<name>.py`` (scripts are not a package), executed fresh."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deep_update(base: dict, extra: dict) -> dict:
    """Recursively merge ``extra`` into a copy of ``base``."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture
def sweep_file(tmp_path):
    """Write a sweep YAML (TINY_SWEEP merged with overrides) and return its path."""
    def make(overrides: dict | None = None, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(deep_update(TINY_SWEEP, overrides or {})))
        return path
    return make


@pytest.fixture(scope="session")
def fit_app():
    """A typer app with `harness fit` and `harness simulate` (harness.cli.fit.register), for CliRunner."""
    import typer

    from harness.cli.fit import register

    built = typer.Typer()
    register(built)
    return built
