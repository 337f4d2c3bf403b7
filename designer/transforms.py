"""Monotone elementwise transforms of a product: ``z = psi(u_1 * ... * u_D)``.

A transform changes the map from the balanced slice to predictors, so the induced bias of the
family becomes ``R(psi^{-1}(z))``. Each transform is a small immutable pytree whose knobs are
array leaves, so a search can differentiate the bias with respect to them (issue 3).

- ``identity``: ``psi(x) = x``.
- ``asinh``: ``psi(x) = s * asinh(x / s)``, inverse ``s * sinh(y / s)`` (``scale`` s > 0): linear for
  ``|x| << s``, logarithmic for ``|x| >> s``.
- ``signed_power``: ``psi(x) = sign(x) |x|^p``, inverse ``sign(y) |y|^{1/p}`` (``exponent`` p > 0).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal, Union

from designer._lazy import jax
from designer._lazy import LazyPytree, pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field


class Transform(LazyPytree):
    """Base of the monotone transforms (a pytree: knobs are array leaves)."""

    name: str


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

    def forward(self, x):
        return jnp.sign(x) * jnp.abs(x) ** self.exponent

    def inverse(self, y):
        return jnp.sign(y) * jnp.abs(y) ** (1.0 / self.exponent)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityTransformSpec(_Spec):
    """No transform."""

    kind: Literal["identity"] = "identity"

    def build(self) -> IdentityTransform:
        return IdentityTransform()


class AsinhTransformSpec(_Spec):
    """``z = s * asinh(x / s)``: linear below the scale, logarithmic above it."""

    kind: Literal["asinh"] = "asinh"
    scale: float = Field(1.0, gt=0.0, le=1e6, description="s > 0")

    def build(self) -> AsinhTransform:
        return AsinhTransform(float(self.scale))


class SignedPowerTransformSpec(_Spec):
    """``z = sign(x) |x|^p``."""

    kind: Literal["signed_power"] = "signed_power"
    exponent: float = Field(1.0, ge=0.05, le=20.0, description="p > 0")

    def build(self) -> SignedPowerTransform:
        return SignedPowerTransform(float(self.exponent))


#: transform kind -> its pydantic spec (``build()`` makes the transform).
TRANSFORMS: dict[str, type] = {
    "identity": IdentityTransformSpec,
    "asinh": AsinhTransformSpec,
    "signed_power": SignedPowerTransformSpec,
}

TransformSpec = Annotated[Union[tuple(TRANSFORMS.values())], Field(discriminator="kind")]
