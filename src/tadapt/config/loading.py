"""YAML -> :class:`ExperimentConfig`: presets, dotted overrides, type checks, ``resolve()``.

* :func:`load_config` reads a shipped preset (``tadapt/presets/<name>.yaml``) or a YAML file,
  applies ``key.sub.key=value`` overrides (the value is parsed as YAML with the safe loader,
  so ``3``, ``1e-3``, ``true``, ``null`` and ``[0.9, 1.0]`` mean what they look like; unlike
  plain PyYAML, ``1e-3`` is a float, not a string), then builds the frozen dataclasses,
  checking every key and type on the way.
* :func:`tadapt.config.resolve` (in :mod:`tadapt.config.resolving`) fills the fields that follow
  from others and checks values; it returns a new config.
* :func:`save_config` writes a config as YAML that :func:`load_config` reads back to an equal
  config (the resolved config saved beside every run).

An unknown key raises a :class:`ConfigError` that lists the valid keys at its level; a wrong
type raises one that names the key, the expected type and the value given.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from tadapt.config.schema import ExperimentConfig
from tadapt.io import utf8_required, write_text_atomic

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "list_presets",
    "load_config",
    "preset_path",
    "save_config",
]

_T = TypeVar("_T")


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML 1.1 as PyYAML reads it, except that ``1e-3`` is a float (PyYAML: a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects


# --------------------------------------------------------------------------- presets


def _preset_dir() -> Path:
    return Path(str(resources.files("tadapt").joinpath("presets")))


def list_presets() -> list[str]:
    """Names of the presets shipped with tadapt, sorted."""
    folder = _preset_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``.

    Raises:
        ConfigError: no such preset; the message lists the presets.
    """
    path = _preset_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{name!r} is neither a YAML file nor a preset; presets: {', '.join(list_presets())}"
        )
    return path


# --------------------------------------------------------------------------- loading


def load_config(source: str | os.PathLike[str], overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Read a preset name or a YAML file, apply dotted overrides, build the config.

    Args:
        source: a preset name (``thumos14_actionformer_i3d``) or a path to a YAML file.
        overrides: ``key.sub.key=value`` strings, applied in order.

    Returns:
        The config, not yet resolved (see :func:`resolve`).

    Raises:
        ConfigError: unreadable YAML, an unknown key, a wrong type or a malformed override.
    """
    path = Path(source)
    looks_like_file = path.suffix in (".yaml", ".yml") or os.sep in str(source)
    if not path.is_file():
        if looks_like_file:
            raise ConfigError(f"{path}: no such config file")
        path = preset_path(str(source))
    try:
        with utf8_required(path, ConfigError):
            raw = _parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(raw).__name__}")
    try:
        return config_from_dict(apply_overrides(raw, overrides))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (a new one is returned).

    Keys are checked against :class:`ExperimentConfig` at every level. Below a field typed
    ``dict[str, ...]`` (``optim.module_lrs``) the rest of the dotted key, dots included, is
    one dict key: ``optim.module_lrs.backbone.blocks=0`` sets ``"backbone.blocks"``.

    Raises:
        ConfigError: no ``=``, an empty key, an unknown key, or a value YAML cannot parse.
    """
    result: dict[str, Any] = _deep_copy(raw)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {override!r} must look like key.sub.key=value")
        try:
            value = _parse_yaml(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {override!r}: the value is not valid YAML") from err
        _set_dotted(result, key, value)
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``dotted = "a.b.c"``, checking each key."""
    parts = dotted.split(".")
    node: dict[str, Any] = raw
    cls: type = ExperimentConfig
    done: list[str] = []
    for i, part in enumerate(parts):
        hints = _field_types(cls)
        if part not in hints:
            raise ConfigError(_unknown_key(".".join([*done, part]), hints))
        done.append(part)
        if i == len(parts) - 1:
            node[part] = value
            return
        target = _dataclass_in(hints[part])
        if target is None:
            if _is_str_dict(hints[part]):  # the rest of the key is one dict key
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                child[".".join(parts[i + 1 :])] = value
                return
            raise ConfigError(
                f"{'.'.join(done)} is a value of type {_type_name(hints[part])}, not a "
                f"section: cannot set {dotted}"
            )
        child = node.get(part)
        if not isinstance(child, dict):  # absent or null (an optional section): start one
            child = node[part] = {}
        node, cls = child, target


def config_from_dict(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from nested dicts, checking keys and types.

    Raises:
        ConfigError: an unknown key or a value of the wrong type.
    """
    return _build(ExperimentConfig, raw, "")


# --------------------------------------------------------------------------- type checking


def _field_types(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key(key: str, hints: Mapping[str, Any]) -> str:
    level = key.rpartition(".")[0] or "the top level"
    return f"unknown key {key!r}; valid keys at {level}: {', '.join(hints)}"


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass of a field typed ``D`` or ``D | None``, else ``None``."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if _is_union(tp):
        found = [a for a in get_args(tp) if isinstance(a, type) and dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_str_dict(tp: Any) -> bool:
    return get_origin(tp) is dict


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    if _is_union(tp):
        return " | ".join(_type_name(a) for a in get_args(tp))
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return f"list of {len(args)} [{', '.join(_type_name(a) for a in args)}]"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    return str(tp)


class _Mismatch(Exception):  # noqa: N818 -- internal signal, turned into a ConfigError
    """A value does not fit a type; the caller names the key."""


def _build(cls: type[_T], raw: Any, prefix: str) -> _T:
    """Instantiate dataclass ``cls`` from a mapping, converting and checking every field."""
    if not isinstance(raw, Mapping):
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"{where}: expected a mapping of keys, got {raw!r}")
    hints = _field_types(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in hints:
            raise ConfigError(_unknown_key(dotted, hints))
        values[key] = _convert(value, hints[key], dotted)
    missing = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init
        and f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(
            f"{where}: {', '.join(missing)} must be set when {where} is given "
            f"(e.g. {prefix}{missing[0]}=...); leave {where} out to keep its default"
        )
    return cls(**values)


def _convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` as type ``tp``; a :class:`ConfigError` names ``key`` when it does not fit."""
    target = _dataclass_in(tp) if not _is_union(tp) else None
    if target is not None:
        return _build(target, value, f"{key}.")
    try:
        return _fit(value, tp, key)
    except _Mismatch:
        raise ConfigError(
            f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})"
        ) from None


def _fit(value: Any, tp: Any, key: str) -> Any:
    """Convert or raise :class:`_Mismatch` (nested dataclasses raise ConfigError directly)."""
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if _is_union(tp):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            if (
                isinstance(arg, type)
                and dataclasses.is_dataclass(arg)
                and isinstance(value, Mapping)
            ):
                return _build(arg, value, f"{key}.")
            try:
                return _fit(value, arg, key)
            except _Mismatch:
                continue
        raise _Mismatch
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_fit(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_fit(v, a, key) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch
        return {_fit(k, args[0], key): _fit(v, args[1], key) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    raise TypeError(f"config field {key} has an unsupported type {tp!r}")  # schema bug


# --------------------------------------------------------------------------- saving


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config (or section) as nested dicts, lists and scalars, for YAML or a checkpoint."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    out: dict[str, Any] = plain(dataclasses.asdict(config))
    return out


def save_config(
    config: ExperimentConfig, path: str | os.PathLike[str], *, header: str = ""
) -> None:
    """Write ``config`` as YAML (atomically), optionally after a ``#`` comment header."""
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    write_text_atomic(Path(path), comment + text)
