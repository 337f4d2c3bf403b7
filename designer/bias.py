"""Batched evaluation of the induced bias ``R(z)`` at many predictors (``designer bias``)."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import limits
from .errors import DesignerInputError
from .families import Family, build_family, parse_param_spec
from .mechanisms import Mechanism, build_mechanism

#: Points are evaluated in chunks of this many (the last one padded), so one compiled function
#: serves every request of the same shapes.
CHUNK = 256


@partial(jax.jit, static_argnums=())
def _bias_chunk(family: Family, mechanism: Mechanism, points: jax.Array) -> jax.Array:
    return jax.vmap(lambda z: mechanism.bias(family, z))(points)


def induced_bias(family: Family, mechanism: Mechanism, points: Any) -> np.ndarray:
    """``R(z)`` for each row of ``points`` (shape ``(n, *family.predictor_shape)``), float64.

    Batched with ``vmap`` in fixed-size chunks under one ``jit`` (reused across calls of the
    same family and shapes). ``-inf`` marks a point where the bias is singular (gauge bias at a
    degenerate orbit, e.g. a zero coordinate of a Hadamard product).
    """
    pts = jnp.asarray(points, dtype=jnp.float64)
    n = pts.shape[0]
    out = []
    for start in range(0, n, CHUNK):
        chunk = pts[start:start + CHUNK]
        k = chunk.shape[0]
        if n > CHUNK and k < CHUNK:
            chunk = jnp.concatenate([chunk, jnp.broadcast_to(chunk[:1], (CHUNK - k, *chunk.shape[1:]))])
        out.append(np.asarray(_bias_chunk(family, mechanism, chunk))[:k])
    return np.concatenate(out) if out else np.zeros((0,))


def as_points(points: Any, field: str = "points") -> np.ndarray:
    """Validate a list of predictors (numbers, vectors or matrices) into a float64 array."""
    if isinstance(points, np.ndarray):
        arr = points
    else:
        if not isinstance(points, (list, tuple)):
            raise DesignerInputError(field, "expected a JSON list of predictors")
        if len(points) == 0:
            raise DesignerInputError(field, "the list of points is empty")
        if len(points) > limits.MAX_POINTS:
            raise DesignerInputError(field, f"at most {limits.MAX_POINTS} points, got {len(points)}")
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (ValueError, TypeError):
            raise DesignerInputError(field, "points must be numbers, all of the same shape (ragged or non-numeric input)") from None
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise DesignerInputError(field, "the list of points is empty")
    if arr.shape[0] > limits.MAX_POINTS:
        raise DesignerInputError(field, f"at most {limits.MAX_POINTS} points, got {arr.shape[0]}")
    if arr.size > limits.MAX_POINT_NUMBERS:
        raise DesignerInputError(field, f"at most {limits.MAX_POINT_NUMBERS} numbers in all, got {arr.size}")
    bad = np.nonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))[0]
    if bad.size:
        raise DesignerInputError(f"{field}[{int(bad[0])}]", "contains a non-finite value (NaN or infinity)")
    return arr


def evaluate_points(param: Any, mechanism: Any, points: Any) -> dict:
    """Validate specs and points, evaluate the bias, and return a JSON-able dict.

    Returns ``{"values": [...], "singular": [...]}``: ``values[i]`` is ``None`` where the bias is
    singular (``-inf``: a log of zero), and ``singular`` lists those indices.
    """
    spec = parse_param_spec(param)
    arr = as_points(points)
    shape = arr.shape[1:]
    if spec.family == "scalar_product" and shape == (1,):
        arr, shape = arr[:, 0], ()
    family = spec.build(shape)
    mech = build_mechanism(mechanism, family)
    for i in range(arr.shape[0]) if _needs_per_point_check(family) else ():
        family.check_point(arr[i], f"points[{i}]")
    if tuple(shape) != tuple(family.predictor_shape):
        raise DesignerInputError("points", f"expected predictors of shape {list(family.predictor_shape)}, got {list(shape)}")
    values = induced_bias(family, mech, arr)
    singular = [int(i) for i in np.nonzero(~np.isfinite(values))[0]]
    return {
        "values": [None if not np.isfinite(v) else float(v) for v in values],
        "singular": singular,
    }


def _needs_per_point_check(family: Family) -> bool:
    return type(family).check_point is not Family.check_point


__all__ = ["induced_bias", "evaluate_points", "as_points", "build_family", "build_mechanism"]
