"""Loading a config: YAML/TOML files, ``key=value`` overrides, typed checks of every value.

Every key is checked against the schema (``pipeline.config.schema``) when the file is loaded,
so a typo or a wrong type fails before anything runs, with the key, the value received and
what was expected; the cross-key checks follow (``pipeline.config.checks``). This module
imports nothing heavy: ``dlpipe --help`` and config errors stay fast.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import yaml

from dlpipe.errors import ConfigError
from pipeline.config.schema import DEFAULT_CONFIG, PipelineConfig


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(key: str, value: Any, f: dataclasses.Field, tp: Any) -> Any:
    """Checks one leaf value against its field's type and metadata; returns it normalised."""
    meta = f.metadata
    expected = _type_name(tp)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is dict:
        ok = isinstance(value, dict)
        expected = "a mapping"
    elif tp is list:
        ok = isinstance(value, list)
        expected = "a list"
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"Unsupported config field type {tp!r} for {key}")
    if not ok:
        raise ConfigError(
            f"Config key '{key}' must be {expected}. Received: {key}={value!r} "
            f"({type(value).__name__})."
        )
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"Config key '{key}' must be one of {', '.join(map(repr, choices))}. "
            f"Received: {key}={value!r}."
        )
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None and (value < lo or (meta.get("exclusive") and value == lo)):
        op = ">" if meta.get("exclusive") else ">="
        raise ConfigError(f"Config key '{key}' must be {op} {lo}. Received: {key}={value!r}.")
    if hi is not None and value > hi:
        raise ConfigError(f"Config key '{key}' must be <= {hi}. Received: {key}={value!r}.")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the config file"
    if not isinstance(data, dict):
        raise ConfigError(
            f"'{where}' must be a mapping of keys to values. Received: {data!r}."
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(
            f"Unknown config key '{key}'. Expected one of: {', '.join(sorted(fields))}"
            f"{' under ' + repr(prefix) if prefix else ''}."
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = _check_value(key, value, fields[name], tp)
    return cls(**kwargs)


def _parse_scalar(text: str) -> Any:
    if not text.strip():
        return ""  # `--set key=` clears a string key (YAML would read it as null)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Applies ``a.b=value`` overrides (values parsed as YAML scalars) to a raw dict."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"Override must look like key=value (e.g. train.train_steps=100). "
                f"Received: {item!r}."
            )
        key, _, text = item.partition("=")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override '{key}' goes below a value that is not a mapping.")
        node[parts[-1]] = _parse_scalar(text)
    return data


def read_config_file(path: str | Path) -> dict:
    """Reads a YAML or TOML config file into plain data."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}. Expected a .yaml/.yml/.toml file.")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomli

            data = tomli.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(
                f"Config file {path} has suffix {path.suffix!r}; expected .yaml, .yml or .toml."
            )
    except ConfigError:
        raise
    except Exception as e:  # yaml.YAMLError, tomli.TOMLDecodeError
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"Config file {path} is not valid {path.suffix[1:].upper()}: {first}"
        ) from None
    return data or {}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None
                ) -> PipelineConfig:
    """Loads, overrides and validates a config.

    Args:
      path: YAML or TOML file; ``None`` uses the default digits config.
      overrides: ``key=value`` strings applied after the file.

    Returns:
      The validated, frozen config.

    Raises:
      ConfigError: naming the key, the value received and what was expected.
    """
    path = Path(path or DEFAULT_CONFIG)
    data = read_config_file(path)
    data = apply_overrides(data, overrides or [])
    return config_from_data(data, path.parent)


def config_from_data(data: dict, base_dir: str | Path = ".") -> PipelineConfig:
    """Validates plain config data (e.g. a resolved config embedded in an Airflow DAG file).

    Args:
      data: Config keys and values, as in a config file.
      base_dir: Directory a relative ``validate.schema_file`` or ``task.module_file`` is
        taken from.

    Raises:
      ConfigError: naming the key, the value received and what was expected.
    """
    from pipeline.config import checks

    config = _build(PipelineConfig, data, "")
    config = _resolve_file(config, base_dir, "validate", "schema_file", "schema file")
    config = _resolve_file(config, base_dir, "task", "module_file", "Python file")
    checks.check(config)
    return config


def _resolve_file(config: PipelineConfig, base_dir: str | Path, section: str, key: str,
                  what: str) -> PipelineConfig:
    """Makes a file key absolute (relative to the config file) and checks the file exists."""
    value = getattr(getattr(config, section), key)
    if not value:
        return config
    resolved = (Path(base_dir) / Path(value).expanduser()).resolve()
    if not resolved.is_file():
        raise ConfigError(
            f"Config key '{section}.{key}' must name an existing {what}. "
            f"Received: {section}.{key}={value!r} (looked for {resolved})."
        )
    part = dataclasses.replace(getattr(config, section), **{key: str(resolved)})
    return dataclasses.replace(config, **{section: part})


def describe_schema(cls: type = PipelineConfig, prefix: str = "") -> list[str]:
    """One line per config key with its default and help, for ``dlpipe config --keys``."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            lines.extend(describe_schema(hints[f.name], key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{key} = {default!r}  # {f.metadata.get('help', '')}")
    return lines
