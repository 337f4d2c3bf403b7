"""Monotone elementwise transforms of a product: ``z = psi(u_1 * ... * u_D)``.

A transform changes the map from the balanced slice to predictors, so the induced bias of the
family becomes ``R(psi^{-1}(z))``. Each transform is a small immutable pytree whose knobs are
array leaves, so a search can differentiate the bias with respect to them.

- ``identity``: ``psi(x) = x``.
- ``asinh``: ``psi(x) = s * asinh(x / s)``, inverse ``s * sinh(y / s)`` (``scale`` s > 0): linear for
  ``|x| << s``, logarithmic for ``|x| >> s``.
- ``signed_power``: ``psi(x) = sign(x) |x|^p``, inverse ``sign(y) |y|^{1/p}`` (``exponent`` p > 0).
- ``table``: ``psi`` through given knots ``y_k = psi(x_k)`` (``x_0 = y_0 = 0``, both strictly
  increasing): ``psi^{-1}`` is the monotone cubic Hermite interpolant of ``(y_k, x_k)`` (PCHIP slopes
  unless ``slopes`` gives ``dx/dy`` at the knots), continued linearly beyond the last knot (with the
  last knot's slope, or the last secant where that slope is 0), odd for negative arguments;
  ``psi`` is its exact inverse (:mod:`designer._monotone`). The bias is a function of ``psi^{-1}``,
  so it is exactly the interpolant: at the knots it takes the tabulated values.

A transform acts elementwise on a Hadamard product and spectrally on a matrix product (on the
singular values of ``W_1 ... W_D``); it must be odd, increasing, with ``psi(0) = 0``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from designer._lazy import LazyPytree, jax, jnp, pytree

from . import limits
from .errors import DesignerInputError


class Transform(LazyPytree):
    """Base of the monotone transforms (a pytree: knobs are array leaves)."""

    name: str

    @property
    def finite_slope(self) -> bool:
        """``psi'(0) < infinity`` (host-side, on a built transform): a product behind ``psi`` then has a
        finite slope at the balanced point of every predictor and trains by gradient steps from a
        small start; ``psi(x) ~ sqrt|x|`` at 0 (a table built from a penalty with a quadratic start,
        a signed power below 1) does not."""
        return True


@pytree
@dataclasses.dataclass(frozen=True)
class IdentityTransform(Transform):
    name = "identity"

    def forward(self, x):
        return x

    def inverse(self, y):
        return y


@pytree
@dataclasses.dataclass(frozen=True)
class AsinhTransform(Transform):
    scale: jax.Array | float = 1.0
    name = "asinh"

    def forward(self, x):
        return self.scale * jnp.arcsinh(x / self.scale)

    def inverse(self, y):
        return self.scale * jnp.sinh(y / self.scale)


@pytree
@dataclasses.dataclass(frozen=True)
class SignedPowerTransform(Transform):
    exponent: jax.Array | float = 1.0
    name = "signed_power"

    @property
    def finite_slope(self) -> bool:
        return float(self.exponent) >= 1.0

    def forward(self, x):
        return jnp.sign(x) * jnp.abs(x) ** self.exponent

    def inverse(self, y):
        return jnp.sign(y) * jnp.abs(y) ** (1.0 / self.exponent)


@pytree
@dataclasses.dataclass(frozen=True)
class TableTransform(Transform):
    """``psi`` from a table; ``psi^{-1}`` is the monotone cubic through ``(knots_y, knots_x)``."""

    knots_y: jax.Array
    knots_x: jax.Array
    slopes: jax.Array
    end_slope: jax.Array
    name = "table"

    @property
    def finite_slope(self) -> bool:
        """``psi'(0) = 1 / (dx/dy at 0)``: finite when the first knot's slope is positive."""
        return float(np.asarray(self.slopes)[0]) > 0.0

    def _table(self, dtype):
        return tuple(jnp.asarray(a, dtype) for a in (self.knots_y, self.knots_x, self.slopes, self.end_slope))

    def forward(self, x):
        from ._monotone import hermite_inverse

        return hermite_inverse(x, *self._table(x.dtype))

    def inverse(self, y):
        from ._monotone import hermite

        return hermite(y, *self._table(y.dtype))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityTransformSpec(_Spec):
    """No transform."""

    kind: Literal["identity"] = "identity"

    def build(self, field: str = "transform") -> IdentityTransform:
        return IdentityTransform()


class AsinhTransformSpec(_Spec):
    """``z = s * asinh(x / s)``: linear below the scale, logarithmic above it."""

    kind: Literal["asinh"] = "asinh"
    scale: float = Field(1.0, gt=0.0, le=1e6, description="s > 0")

    def build(self, field: str = "transform") -> AsinhTransform:
        return AsinhTransform(float(self.scale))


class SignedPowerTransformSpec(_Spec):
    """``z = sign(x) |x|^p``."""

    kind: Literal["signed_power"] = "signed_power"
    exponent: float = Field(1.0, ge=0.05, le=20.0, description="p > 0")

    def build(self, field: str = "transform") -> SignedPowerTransform:
        return SignedPowerTransform(float(self.exponent))


class TableTransformSpec(_Spec):
    """``psi`` through the knots ``(x_k, y_k)``, ``y_k = psi(x_k)``: monotone cubic (PCHIP) ``psi^{-1}``."""

    kind: Literal["table"] = "table"
    x: list[float] = Field(..., min_length=2, max_length=limits.MAX_TABLE_KNOTS, description="x_0 = 0 < x_1 < ... (inputs of psi)")
    y: list[float] = Field(..., min_length=2, max_length=limits.MAX_TABLE_KNOTS, description="y_0 = 0 < y_1 < ... (psi(x_k))")
    slopes: list[float] | None = Field(
        None, max_length=limits.MAX_TABLE_KNOTS,
        description="dx/dy = (psi^{-1})'(y_k) at the knots (>= 0); PCHIP estimates when omitted",
    )

    def build(self, field: str = "transform") -> TableTransform:
        x, y = np.asarray(self.x, np.float64), np.asarray(self.y, np.float64)
        if len(x) != len(y):
            raise DesignerInputError(f"{field}.y", f"{len(y)} values for {len(x)} knots in x; give one y per x")
        for name, v in (("x", x), ("y", y)):
            if not np.all(np.isfinite(v)):
                raise DesignerInputError(f"{field}.{name}[{int(np.nonzero(~np.isfinite(v))[0][0])}]", "not a finite number")
            if v[0] != 0.0:
                raise DesignerInputError(f"{field}.{name}[0]", f"the table starts at psi(0) = 0, so {name}[0] must be 0, got {v[0]:g}")
            bad = np.nonzero(np.diff(v) <= 0)[0]
            if bad.size:
                k = int(bad[0]) + 1
                raise DesignerInputError(
                    f"{field}.{name}[{k}]",
                    f"{name} must increase strictly (psi is monotone): {name}[{k}] = {v[k]:g} <= {name}[{k - 1}] = {v[k - 1]:g}",
                )
        if self.slopes is None:
            from ._monotone import pchip_slopes

            m = pchip_slopes(y, x)
        else:
            m = np.asarray(self.slopes, np.float64)
            if len(m) != len(x):
                raise DesignerInputError(f"{field}.slopes", f"{len(m)} slopes for {len(x)} knots; give one per knot")
            bad = np.nonzero(~np.isfinite(m) | (m < 0))[0]
            if bad.size:
                raise DesignerInputError(f"{field}.slopes[{int(bad[0])}]", "slopes dx/dy must be finite and >= 0")
            # Fritsch-Carlson: the cubic of a segment is monotone when alpha^2 + beta^2 <= 9
            delta = np.diff(x) / np.diff(y)
            ratio = (m[:-1] / delta) ** 2 + (m[1:] / delta) ** 2
            bad = np.nonzero(ratio > 9.0 * (1 + 1e-12))[0]
            if bad.size:
                k = int(bad[0])
                raise DesignerInputError(
                    f"{field}.slopes[{k}]",
                    f"slopes {m[k]:g}, {m[k + 1]:g} on the segment y[{k}]..y[{k + 1}] (secant {delta[k]:g}) make the cubic "
                    "non-monotone (need (m_k/secant)^2 + (m_k+1/secant)^2 <= 9)",
                )
        from ._monotone import end_slope

        return TableTransform(y, x, m, np.asarray(end_slope(y, x, m)))


#: transform kind -> its pydantic spec (``build()`` makes the transform).
TRANSFORMS: dict[str, type] = {
    "identity": IdentityTransformSpec,
    "asinh": AsinhTransformSpec,
    "signed_power": SignedPowerTransformSpec,
    "table": TableTransformSpec,
}

TransformSpec = Annotated[Union[tuple(TRANSFORMS.values())], Field(discriminator="kind")]  # noqa: UP007
