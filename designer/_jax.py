"""JAX configuration helpers: float64 and the persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax


def enable_x64() -> None:
    """Turn on float64 (geometry runs in float64; simulations pick their dtype explicitly)."""
    jax.config.update("jax_enable_x64", True)


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (CLI and service).

    The directory is ``$DESIGNER_JAX_CACHE``, else ``$XDG_CACHE_HOME/designer/jax``, else
    ``~/.cache/designer/jax``. Compiled executables of every size are cached, so a second
    process that evaluates the same shapes skips XLA compilation.
    """
    if path is None:
        path = os.environ.get("DESIGNER_JAX_CACHE")
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "designer", "jax")
    cache = Path(path)
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache
