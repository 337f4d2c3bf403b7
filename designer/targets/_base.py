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

Structure the search uses for exact designs (theory.md section 5.1, the transform rule); every
one defaults to ``None`` (no such structure):

- ``profile(t)``: for a *separable* target, ``R*(z) = R*(0) + sum_i r(|z_i|)``, the function ``r``
  on ``t >= 0`` in JAX, with ``r(0) = 0`` and ``r`` non-decreasing;
- ``spectral_profile(s)``: for a *spectral* matrix target, ``R*(M) = R*(0) + sum_i g(s_i(M))``
  over the ``min(m, n)`` singular values, the function ``g`` with ``g(0) = 0``, non-decreasing;
- ``profile_flat_from``: the ``t`` beyond which the profile (elementwise or spectral) stops
  increasing (SCAD, MCP), a float; ``None`` when it increases strictly on all of ``t > 0``;
- ``quadratic_start``: ``True`` when ``int_0 dt / sqrt(r(t))`` diverges, i.e. the profile grows like
  ``t^2`` (or faster) at 0, so label noise has no exact design (theory.md 5.1: the label-noise ODE has
  no solution with ``psi(0) = 0``); ``False`` when that integral is finite; ``None`` without a profile.

Structure the search uses for exact sums (theory.md section 5.1, the sum rule): ``sum_designs(shape)``
lists the sums of parameterizations whose bias *is* the target, as dicts ``{"param": <sum family
spec>, "mechanisms": (...), "rule": <why, in words>}`` (default: none). An infimal convolution
``min_{x_1 + x_2 = z} R_1(x_1) + R_2(x_2)`` (total variation = free offset + L1 of the differences,
robust PCA = nuclear + lambda L1) is the weight-decay bias of the sum of designs of ``R_1`` and
``R_2`` (Huber = ``delta`` L1 with half squared L2); the search scores them with the sum's closed form
where its terms' biases are convex atoms (:mod:`designer.families._sum_closed`), else with the
engine's fibre minimum (:mod:`designer.fibre`) up to a size limit. The same list may hold a design
of another family whose bias is the target (``param.family`` names it; that family's
``design_candidates`` proposes it), e.g. the fused lasso's Hadamard product behind the interval
dictionary.

``inexact_note``: a sentence on why no registered design is exact for this target and what would be
(added to the note of an inexact result), else ``None``.

The constant ``R*(0)`` is the target at the zero predictor (``0`` for norms, ``d log(epsilon)``
for log-sum); the profiles carry no constant. ``profile_flat_from`` and ``quadratic_start`` read
the target's knobs as numbers: use them on a built target, outside ``jit``.
"""

from __future__ import annotations

import abc
from typing import Callable, ClassVar

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

    #: ``r(t)``, t >= 0, of a separable target (a method in subclasses), else ``None``.
    profile: ClassVar[Callable[..., jax.Array] | None] = None
    #: ``g(s)``, s >= 0, of a spectral matrix target (a method in subclasses), else ``None``.
    spectral_profile: ClassVar[Callable[..., jax.Array] | None] = None

    @property
    def profile_flat_from(self) -> float | None:
        return None

    @property
    def quadratic_start(self) -> bool | None:
        return None

    #: Why no registered design is exact (see module docstring), else ``None``.
    inexact_note: ClassVar[str | None] = None

    def sum_designs(self, shape: tuple[int, ...]) -> tuple[dict, ...]:
        """Sums of parameterizations whose bias is this target (see module docstring); none by default."""
        return ()


def check_domain(kind: str, domain: str, shape: tuple[int, ...], field: str = "shape") -> None:
    """Raise :class:`DesignerInputError` unless ``shape`` fits the target's domain."""
    if domain == "vector" and len(shape) != 1:
        raise DesignerInputError(field, f"target {kind!r} acts on vectors: give one size (e.g. [64]), got {list(shape)}")
    if domain == "matrix" and len(shape) != 2:
        raise DesignerInputError(field, f"target {kind!r} acts on matrices: give two sizes (e.g. [20, 20]), got {list(shape)}")
