"""JAX and optax imported on first use, and pytree classes registered when they are.

The pydantic specs of families, targets, mechanisms, transforms, simulator pieces and jobs live
beside the JAX code that implements them (one file each), and the service validates requests
with those specs in a process that never imports JAX. So the files that hold specs import JAX
through the module proxies here (``from designer._lazy import jax, jnp``): the real import
happens at the first attribute access, i.e. when a computation starts, not when a spec is read.
Module-level JAX calls in those files are therefore not allowed; registering a dataclass as a
pytree goes through :func:`register_dataclass` / :func:`pytree`, which wait for JAX.

:func:`load` imports JAX once, configures it (float64, the CPU threefry lowering, see
:mod:`designer._jax`) and registers every pending pytree class. It runs at the first proxy
access and at the first construction of a :class:`LazyPytree` (the base of families, targets,
mechanisms and transforms), so an instance is always a registered pytree, even when the caller
imported JAX directly.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()
_PENDING: list[tuple[type, list[str] | None, list[str] | None]] = []
_READY = False
_SPECS_ONLY = contextvars.ContextVar("designer_specs_only", default=False)


def _request_x64() -> None:
    """Ask for float64 before JAX is imported (read from the environment at import), or now."""
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        os.environ.setdefault("JAX_ENABLE_X64", "1")


def load() -> None:
    """Import and configure JAX (once) and register the pending pytree classes."""
    global _READY
    if _READY:
        return
    with _LOCK:
        if _READY:
            return
        import jax
        import jax.flatten_util  # noqa: F401  (used as jax.flatten_util by the library)

        from . import _jax

        _jax.enable_x64()
        _jax.unroll_threefry_on_cpu()
        for cls, data, meta in _PENDING:
            _register(cls, data, meta)
        _PENDING.clear()
        _READY = True


def _register(cls: type, data_fields: list[str] | None, meta_fields: list[str] | None) -> None:
    """Register a dataclass as a pytree node whose tree structure names its class.

    Not ``jax.tree_util.register_dataclass``: in jaxlib 0.10 the structures of two such classes
    with the same fields compare *equal* (``L1()`` and ``TotalVariation()``, or ``Huber(delta)``
    and ``Lp(p)``; only their hashes differ), so a compiled function keyed on the structure could
    be handed the other class's executable when the hashes collided: a wrong number, rarely, in a
    long-lived process. A generic custom node compares its type. ``data_fields`` None: every field
    is data. Children carry their attribute names (key paths, as ``register_dataclass`` gives).
    """
    import dataclasses

    import jax

    if data_fields is None:
        data_fields, meta_fields = [f.name for f in dataclasses.fields(cls)], []
    data, meta = tuple(data_fields), tuple(meta_fields or ())
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten(obj):
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def flatten_with_keys(obj):
        return tuple(zip(keys, (getattr(obj, n) for n in data))), tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        return cls(**dict(zip(data, children)), **dict(zip(meta, aux)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)


@contextlib.contextmanager
def specs_only():
    """Build library objects for checking a request only, without loading JAX.

    Inside, constructing a :class:`LazyPytree` does not load JAX, and touching a JAX proxy
    before JAX is loaded raises ``RuntimeError`` (a check that would need JAX is a bug: checks
    use numpy). For the service's request validation; the objects are for inspection only.
    """
    token = _SPECS_ONLY.set(True)
    try:
        yield
    finally:
        _SPECS_ONLY.reset(token)


def loaded() -> bool:
    """Whether :func:`load` has run."""
    return _READY


def register_dataclass(cls: type, data_fields: list[str] | None = None, meta_fields: list[str] | None = None) -> type:
    """Register a dataclass as a pytree (as ``jax.tree_util.register_dataclass``, but with its class
    in the tree structure, see :func:`_register`), deferred until JAX is loaded; returns ``cls``."""
    with _LOCK:
        if _READY:
            _register(cls, None if data_fields is None else list(data_fields), None if meta_fields is None else list(meta_fields))
        else:
            _PENDING.append((cls, None if data_fields is None else list(data_fields),
                             None if meta_fields is None else list(meta_fields)))
    return cls


def pytree(cls: type | None = None, *, meta: tuple[str, ...] | list[str] | None = None):
    """Class decorator: register a frozen dataclass as a pytree, ``meta`` fields static.

    Without ``meta`` every field is data (``@pytree``); with it, the other fields are data.
    """

    def wrap(c: type) -> type:
        if meta is None:
            return register_dataclass(c)
        import dataclasses

        names = [f.name for f in dataclasses.fields(c)]
        unknown = set(meta) - set(names)
        if unknown:
            raise TypeError(f"{c.__name__}: meta fields {sorted(unknown)} are not dataclass fields")
        return register_dataclass(c, [n for n in names if n not in meta], list(meta))

    return wrap(cls) if cls is not None else wrap


def jit(fun=None, **options):
    """``jax.jit(fun, **options)``, made at the first call (so defining it does not load JAX)."""
    import functools

    if fun is None:
        return lambda f: jit(f, **options)
    compiled = None

    @functools.wraps(fun)
    def call(*args, **kwargs):
        nonlocal compiled
        if compiled is None:
            load()
            import jax as _jax

            compiled = _jax.jit(fun, **options)
        return compiled(*args, **kwargs)

    return call


class LazyPytree:
    """Base of the library's pytree classes: constructing one loads JAX (and registers them all)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any):
        if not _READY and not _SPECS_ONLY.get():
            load()
        return super().__new__(cls)


class _LazyModule(types.ModuleType):
    """A module whose real import (and :func:`load`) waits for the first attribute access."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_target"] = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if not _READY and _SPECS_ONLY.get():
            raise RuntimeError(f"{self.__dict__['_target']}.{attr} used while checking specs (JAX must stay unloaded)")
        load()
        module = importlib.import_module(self.__dict__["_target"])
        value = getattr(module, attr)
        self.__dict__[attr] = value  # later accesses skip this method
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_target']!r}>"


def lazy_exports(package: str, exports: dict[str, str]):
    """PEP 562 ``(__getattr__, __dir__)`` for a package whose public names load on first use.

    ``exports`` maps a public name to the module (relative to ``package``) that defines it, so
    importing the package (e.g. for its specs) does not import the JAX code behind the names.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__


jax = _LazyModule("jax")
jnp = _LazyModule("jax.numpy")
lax = _LazyModule("jax.lax")
optax = _LazyModule("optax")
flatten_util = _LazyModule("jax.flatten_util")

_request_x64()

__all__ = [
    "LazyPytree", "flatten_util", "jax", "jit", "jnp", "lax", "lazy_exports", "load", "loaded", "optax", "pytree",
    "register_dataclass", "specs_only",
]
