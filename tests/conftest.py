"""Shared test setup: float64 for geometry (designer turns it on at import)."""

import designer  # noqa: F401  (enables jax_enable_x64)
import jax

jax.config.update("jax_enable_x64", True)
