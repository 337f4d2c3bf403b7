"""The abstract mechanism: a functional of the fibre that turns a family into a bias on predictors."""

from __future__ import annotations

import abc
from typing import ClassVar

from designer._lazy import LazyPytree, jax

from ..errors import DesignerInputError
from ..families import Family


def finish_hyperparameters(request, a: float, make) -> tuple[dict, dict | None]:
    """Shared part of a mechanism spec's ``hyperparameters(request, a)``.

    The induced bias is ``unit * shape`` with ``shape ~ a R* + b``, so ``unit = lambda / a`` gives
    ``lambda R*(z) + const`` for the requested strength ``lambda``. ``make(unit)`` returns the
    mechanism's ``(mapping, spec)``; the spec is validated (``None``, with a note, when a value
    leaves its valid range). A scale that is not positive has no mapping.
    """
    from . import parse_mechanism_spec

    lam = request.strength
    if not a > 0:
        return {"note": "no positive scale: the induced bias does not increase with the target"}, None
    mapping, spec = make(lam / a)
    mapping["strength"] = lam
    try:
        parse_mechanism_spec(spec)
    except DesignerInputError as exc:
        mapping["note"] = f"the required value is outside the mechanism's valid range ({exc})"
        spec = None
    return mapping, spec


class Mechanism(LazyPytree, abc.ABC):
    """A noise or penalty mechanism (theory.md sections 2-3).

    ``bias(family, z)`` is a pure, jit- and vmap-compatible function of one predictor; additive
    constants are dropped. ``unit`` is the knob that multiplies the bias (temperature, strength, or
    ``learning_rate * variance / 4``), so a search can fit the shape once and translate the scale.

    ``shape(family, z)`` is the one entry point; it asks the family (``family.induced_shape``),
    which for a family whose fibre is one group orbit calls back :meth:`orbit_shape`, and for a
    composite family (a sum of parameterizations, free parameters) minimises
    :meth:`fibre_functional` over the fibre itself. A mechanism whose bias is not the minimum
    over the fibre of a functional additive over independent parameter blocks (the gauge bias)
    leaves :meth:`fibre_functional` refusing.
    """

    kind: ClassVar[str]

    def check(self, family: Family) -> None:
        """Raise :class:`DesignerInputError` if the mechanism cannot act on ``family``."""

    @property
    @abc.abstractmethod
    def unit(self) -> jax.Array | float:
        """The scalar that multiplies :meth:`shape`."""

    def shape(self, family: Family, z: jax.Array) -> jax.Array:
        """The bias for ``unit = 1`` (the one dispatch point: the family decides how it is formed)."""
        return family.induced_shape(self, z)

    @abc.abstractmethod
    def orbit_shape(self, family: Family, z: jax.Array) -> jax.Array:
        """The bias for ``unit = 1`` of a family whose fibre is one group orbit."""

    def fibre_functional(self, family: Family, params) -> jax.Array:
        """The functional of the parameters whose minimum over the fibre is the bias (``unit = 1``)."""
        raise DesignerInputError(
            "mechanism.kind", f"{self.kind} is not the minimum over the fibre of an additive functional, "
            "so it has no bias on a sum of parameterizations",
        )

    def bias(self, family: Family, z: jax.Array) -> jax.Array:
        """``R(z) = unit * shape(z)``."""
        return self.unit * self.shape(family, z)
