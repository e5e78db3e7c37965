"""Sweep files: YAML safe-loading with one-line errors (file, line, field) and duplicate-key checks.

``load_sweep(path)`` reads and validates a sweep file into :class:`harness.config.SweepConfig`; every problem is a
ConfigError of one line naming the file, the line and the field.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml
from pydantic import ValidationError

from harness.config import SweepConfig
from harness.errors import ConfigError

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark else "YAML"
    if mark is None and getattr(exc, "position", None) is not None:  # reader errors (control characters)
        where = f"YAML (character {exc.position})"
        return ConfigError(f"{path}: {where}: not valid YAML ({_one_line(getattr(exc, 'reason', exc))})")
    return ConfigError(f"{path}: {where}: not valid YAML ({_one_line(getattr(exc, 'problem', None) or exc)})")


def _key_lines(node: yaml.Node, path: Path, prefix: tuple = (), out: Optional[dict] = None) -> dict[tuple, int]:
    """1-based line of every mapping key and list item, by its path; ConfigError on a duplicate key."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            where = prefix + (key,)
            if where in out:
                name = ".".join(map(str, where))
                raise ConfigError(f"{path}: line {key_node.start_mark.line + 1}: {name}: duplicate key "
                                  f"(first given on line {out[where]})")
            out[where] = key_node.start_mark.line + 1
            _key_lines(value_node, path, where, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[prefix + (str(i),)] = item.start_mark.line + 1
            _key_lines(item, path, prefix + (str(i),), out)
    return out


def _format_pydantic_error(path: Path, err: ValidationError, lines: dict[tuple, int]) -> str:
    first = err.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    where = ".".join(loc) or "(top level)"
    msg = _one_line(first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
    return f"{path}: {f'line {line}: ' if line else ''}{where}: {msg}"


def parse_sweep(text: str, path: Path) -> SweepConfig:
    """Validate YAML text as a sweep; raise ConfigError naming the file, line and field on any problem.

    The YAML is safe-loaded; a key given twice in one mapping is an error (naming the key and both
    lines) instead of the last one silently winning.
    """
    loader = _SAFE_LOADER(text)  # libyaml when present: a 70,000-item list loads in under a second
    try:
        node = loader.get_single_node()
        lines = _key_lines(node, path) if node is not None else {}
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of sweep fields")
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_pydantic_error(path, exc, lines)) from None


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; ConfigError (one line) on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    if path.stat().st_size > 1_000_000:
        raise ConfigError(f"{path}: file larger than 1 MB; a sweep file is a short YAML mapping")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return parse_sweep(text, path)


def load_sweep_or_name(source: str) -> SweepConfig:
    """Load a sweep file given as a path, or as a bare name resolved to sweeps/<name>.yaml."""
    path = Path(source)
    if not path.exists() and not source.endswith((".yaml", ".yml")) and "/" not in source:
        path = Path("sweeps") / f"{source}.yaml"
    return load_sweep(path)
