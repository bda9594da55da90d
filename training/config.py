"""Training configs: frozen dataclasses read from JSON or YAML files, with no unknown keys allowed.

A config file holds a mapping whose keys are the dataclass's field names (nested dataclasses are nested
mappings). Unknown keys are an error naming the key and the valid ones, so a misspelt option never passes
silently (the smplx ``**kwargs`` pitfall STYLE.md warns about). No yacs, no ``exec``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["config_from_dict", "config_to_dict", "load_config", "save_config"]

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build the frozen dataclass ``cls`` from a mapping, recursing into nested dataclass fields.

    Args:
        cls: a dataclass type.
        data: mapping of field name to value; missing fields keep their defaults.
        where: a name for error messages (file name and key path).
    Returns:
        The dataclass instance.
    Raises:
        ValueError: an unknown key, or a value of the wrong kind for its field.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of option names to values, found {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {unknown} for {cls.__name__}; valid options are {sorted(fields)}. "
            "Fix the spelling or remove the key."
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, found {type(value).__name__} {value!r}")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, found {type(value).__name__}")
        _, inner = typing.get_args(hint)
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, found {type(value).__name__} {value!r}")
        return float(value)
    if hint is int:
        # Upstream's tokenizer passed LR milestones as strings, so its schedule never decayed: refuse strings.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, found {type(value).__name__} {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, found {type(value).__name__} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, found {type(value).__name__} {value!r}")
        return value
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-able mapping of a (nested) config dataclass; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def load_config(cls: type[T], path: str | Path) -> T:
    """Read ``cls`` from a ``.json``, ``.yaml`` or ``.yml`` file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the extension is not supported, the file does not parse, or a key is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist; pass the path of a .json or .yaml file")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ValueError(f"{path}: expected a .json, .yaml or .yml config file, found suffix {suffix!r}")
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: could not parse the config file: {e}") from e
    return config_from_dict(cls, data if data is not None else {}, where=str(path))


def save_config(config: Any, path: str | Path) -> None:
    """Write a config dataclass as JSON (``.json``) or YAML (any other suffix)."""
    path = Path(path)
    data = config_to_dict(config)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
