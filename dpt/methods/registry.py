"""The method registry: name -> class. Method modules register themselves; everything else looks them up
here (or through `dpt.methods`, which imports every method module so that all are registered)."""
from __future__ import annotations

from typing import Sequence

from ..config import check

METHODS: dict[str, type] = {}  # name -> PromptMethod subclass, in registration order
VARIANTS: dict[str, list[type]] = {}  # name -> subclasses that run it where their `applies(cfg)` says so


def register(cls: type) -> type:
    """Class decorator: make a method available by its `name`."""
    check(cls.name not in METHODS, f"method name {cls.name!r} is registered twice")
    METHODS[cls.name] = cls
    return cls


def check_method(name: str) -> None:
    check(name in METHODS, f"unknown method {name!r}; valid: {', '.join(METHODS)}")


def method_fields(name: str, cfg) -> dict:
    """The MethodConfig fields method `name` reads (what its results depend on), for the run identity."""
    check_method(name)
    return {k: getattr(cfg, k) for k in METHODS[name].config_fields}


def build_method(name: str, backbone, classnames: Sequence[str], template: str, cfg=None):
    """A fresh method `name` for these classes and template (cfg: a MethodConfig; default: the defaults)."""
    from .config import MethodConfig
    check_method(name)
    cfg = cfg or MethodConfig()
    cls = next((v for v in VARIANTS.get(name, ()) if v.applies(cfg)), METHODS[name])
    return cls(backbone, classnames, template, cfg)
