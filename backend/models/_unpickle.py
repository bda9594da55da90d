"""Restricted unpicklers for the official files that ``torch.load(weights_only=True)`` refuses.

No global named in one of these pickles is ever imported or called unless it is on an allow-list of tensor
rebuild functions and plain containers:

* ``tokenizer.pth`` pickles a yacs ``CfgNode`` (a dict subclass); ``weights_only=True`` cannot rebuild it even with
  ``add_safe_globals``. ``TOKENIZER_PICKLE`` maps ``yacs.config.CfgNode`` to ``ConfigDict`` and refuses any other
  global outside the list, naming it.
* Full Lightning checkpoints add ``hyper_parameters`` (OmegaConf / yacs objects), callbacks and loop state.
  ``LIGHTNING_PICKLE`` turns every global outside the list into an inert placeholder: the tensors load, nothing
  foreign runs.

Each ``*_PICKLE`` object is passed to ``torch.load(..., pickle_module=..., weights_only=False)``; torch's own
wrapper resolves the storage classes before our ``find_class`` sees a name.
"""

from __future__ import annotations

import collections
import pickle
import types
from typing import Any

import torch

__all__ = ["ConfigDict", "InertObject", "LIGHTNING_PICKLE", "TOKENIZER_PICKLE"]


class ConfigDict(dict):
    """Stand-in for a pickled yacs ``CfgNode``: a plain dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __setstate__(self, state: Any) -> None:
        # yacs pickles its __dict__ (internal flags such as __immutable__); they carry no configuration.
        if isinstance(state, dict):
            self.__dict__["_pickled_state"] = dict(state)

    def to_plain(self) -> dict:
        """Nested plain dicts (for JSON)."""
        return {k: v.to_plain() if isinstance(v, ConfigDict) else v for k, v in self.items()}


class InertObject(dict):
    """Placeholder for any object a Lightning checkpoint pickles (hyper-parameters, callbacks): never executes.

    Keeps what the pickle fed it (constructor args, state, items) for inspection only.
    """

    _pickled_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "InertObject":
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.__dict__["_pickled_args"] = args

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_pickled_state"] = state

    def append(self, item: Any) -> None:
        self.__dict__.setdefault("_pickled_items", []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault("_pickled_items", []).extend(items)

    # Placeholders may be dict keys in the pickle (enums, for instance): hash by identity.
    __hash__ = object.__hash__

    def __call__(self, *args: Any, **kwargs: Any) -> "InertObject":
        return type(self)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<inert {self._pickled_global}>"


def _tensor_globals() -> dict[tuple[str, str], Any]:
    """Globals a plain tensor state_dict needs (what weights_only=True allows for tensors)."""
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch", "Size"): torch.Size,
        ("builtins", "set"): set,
        ("__builtin__", "set"): set,
        ("builtins", "frozenset"): frozenset,
    }
    for dtype_name in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"):
        allowed[("torch", dtype_name)] = getattr(torch, dtype_name)
    return allowed


_TENSOR_GLOBALS = _tensor_globals()


class _TokenizerUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("yacs.config", "CfgNode"):
            return ConfigDict
        if (module, name) in _TENSOR_GLOBALS:
            return _TENSOR_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(
            f"tokenizer file references {module}.{name}, which an official tokenizer.pth does not contain; "
            "refusing to load it (only tensors, OrderedDict, set and yacs CfgNode are allowed)"
        )


class _LightningUnpickler(pickle.Unpickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inert_classes: dict[tuple[str, str], type] = {}

    def _inert_class(self, module: str, name: str) -> type:
        key = (module, name)
        if key not in self._inert_classes:
            attrs = {"__module__": module, "_pickled_global": f"{module}.{name}"}
            self._inert_classes[key] = type(name, (InertObject,), attrs)
        return self._inert_classes[key]

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TENSOR_GLOBALS:
            return _TENSOR_GLOBALS[(module, name)]
        if (module, name) in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
            return _inert_reconstructor
        return self._inert_class(module, name)


def _inert_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reconstructor would call base.__new__(cls, state); build the placeholder instead.
    return cls() if isinstance(cls, type) and issubclass(cls, InertObject) else InertObject()


def _pickle_module(name: str, unpickler: type) -> types.ModuleType:
    module = types.ModuleType(name)
    module.Unpickler = unpickler  # type: ignore[attr-defined]

    def load(file: Any, **kwargs: Any) -> Any:
        return unpickler(file, **kwargs).load()

    module.load = load  # type: ignore[attr-defined]
    module.__name__ = name
    return module


TOKENIZER_PICKLE = _pickle_module("tokenmocap_tokenizer_pickle", _TokenizerUnpickler)
LIGHTNING_PICKLE = _pickle_module("tokenmocap_lightning_pickle", _LightningUnpickler)
