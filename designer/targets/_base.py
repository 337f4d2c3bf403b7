"""The abstract target regularizer ``R*(z)`` of an inverse design (theory.md section 5).

A target is a small immutable pytree (frozen dataclass): sizes and structure are static metadata,
continuous knobs (an exponent ``p``, an ``epsilon``) are array leaves, so a compiled evaluation is
reused for every value of the knob. Each target declares

- ``domain``: ``"vector"`` (predictors of shape ``(d,)``) or ``"matrix"`` (``(m, n)``);
- ``value(z)``: ``R*(z)`` for one predictor, in JAX (jit/vmap-compatible);
- ``sampling_basis``: the synthesis basis in which the default sampling distribution draws
  coefficients (``"identity"`` unless the target's structure lives in another basis, e.g. the
  cumulative-sum basis for total variation), so the search exercises that structure;
- ``groups``: contiguous group sizes for group targets (else ``None``), which adds the
  group-shared-scale family to the search.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from designer._lazy import LazyPytree, jax

from ..errors import DesignerInputError


class Target(LazyPytree, abc.ABC):
    """Abstract base of every target regularizer (see module docstring)."""

    kind: ClassVar[str]
    domain: ClassVar[str] = "vector"

    @abc.abstractmethod
    def value(self, z: jax.Array) -> jax.Array:
        """``R*(z)`` for one predictor ``z``."""

    @property
    def sampling_basis(self) -> str:
        return "identity"

    @property
    def groups(self) -> tuple[int, ...] | None:
        return None


def check_domain(kind: str, domain: str, shape: tuple[int, ...], field: str = "shape") -> None:
    """Raise :class:`DesignerInputError` unless ``shape`` fits the target's domain."""
    if domain == "vector" and len(shape) != 1:
        raise DesignerInputError(field, f"target {kind!r} acts on vectors: give one size (e.g. [64]), got {list(shape)}")
    if domain == "matrix" and len(shape) != 2:
        raise DesignerInputError(field, f"target {kind!r} acts on matrices: give two sizes (e.g. [20, 20]), got {list(shape)}")
