"""The abstract mechanism: a functional of the fibre that turns a family into a bias on predictors."""

from __future__ import annotations

import abc
from typing import ClassVar

import jax

from ..families import Family


class Mechanism(abc.ABC):
    """A noise or penalty mechanism (theory.md sections 2-3).

    ``bias(family, z)`` is a pure, jit- and vmap-compatible function of one predictor; additive
    constants are dropped. ``unit`` is the knob that multiplies the bias (temperature, strength, or
    ``learning_rate * variance / 4``), so a search can fit the shape once and translate the scale.
    """

    kind: ClassVar[str]

    def check(self, family: Family) -> None:
        """Raise :class:`DesignerInputError` if the mechanism cannot act on ``family``."""

    @property
    @abc.abstractmethod
    def unit(self) -> jax.Array | float:
        """The scalar that multiplies :meth:`shape`."""

    @abc.abstractmethod
    def shape(self, family: Family, z: jax.Array) -> jax.Array:
        """The bias for ``unit = 1``."""

    def bias(self, family: Family, z: jax.Array) -> jax.Array:
        """``R(z) = unit * shape(z)``."""
        return self.unit * self.shape(family, z)
