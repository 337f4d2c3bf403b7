"""designer: induced implicit bias of parameterizations and its inverse design.

Implements the geometric bias of arXiv 2601.06597 (the log-determinant of the Gram matrix of the
symmetry generators on the balanced slice) together with weight-decay and label-noise
mechanisms, computed by autodiff from a declared group action.

Importing ``designer`` is cheap and does not import JAX: the public names below load on first
use, and the pydantic specs (``designer.specs``, ``designer.jobs``) import without JAX, so a web
service can validate requests without it. ``designer`` turns on JAX's float64 mode (geometry
runs in float64; simulations choose float32 explicitly): through the environment before JAX is
imported, or directly when JAX was imported first.
"""

from __future__ import annotations

from ._lazy import lazy_exports

_EXPORTS = {
    "enable_compilation_cache": "._jax", "enable_x64": "._jax", "unroll_threefry_on_cpu": "._jax",
    "use_cpu_cores": "._jax",
    "evaluate_points": ".bias", "induced_bias": ".bias",
    "DesignerError": ".errors", "DesignerInputError": ".errors", "NumericalFailure": ".errors",
    "FAMILIES": ".families", "Family": ".families", "build_family": ".families",
    "balance": ".geometry", "block_generators": ".geometry", "gram": ".geometry", "log_det_gram": ".geometry",
    "minimize_over_orbit": ".geometry", "moment_map": ".geometry",
    "MECHANISMS": ".mechanisms", "build_mechanism": ".mechanisms",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__version__ = "0.1.0"

__all__ = sorted([*_EXPORTS, "__version__"])
