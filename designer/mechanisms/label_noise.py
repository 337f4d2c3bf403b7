"""Label noise: SGD minimises the trace of the Hessian along the zero-loss manifold.

For a model linear in the predictor, ``f(x) = <x, z>``, with input second moment
``Sigma = E[x x^T]`` (identity by default) and loss ``(1/2) E (f - y)^2``, the Hessian at zero loss
is ``J^T Sigma J`` with ``J = dz/dw``, so ``tr H = tr(Sigma J J^T)``. Our convention (after Li,
Wang & Arora 2022, label noise of variance ``sigma^2`` and step ``eta``):

    R(z) = (eta sigma^2 / 4) min over the fibre of tr(Sigma J(w) J(w)^T)

The minimum is taken over the group orbit by L-BFGS from the balanced point (where it already sits
for Hadamard products; not for ``P Q`` with m != n). Hadamard depth 2 gives
``(eta sigma^2/2) sum_j Sigma_jj |z_j|`` (weighted L1).

``finite_step=True`` replaces this small-step shape by the bias at the step ``eta`` itself:
per coordinate of ``z = u v`` or of a Hadamard product (identity basis, no transform, identity
second moment), the penalty whose minimiser reproduces the mean of the exact stationary law of
SGD on the balanced slice (``designer.validate._finite_step.finite_step_bias_table``); it tends
to the small-step shape as ``eta -> 0``. ``bias`` is then that penalty; ``shape`` is it over ``unit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DesignerInputError
from ..families import Family
from ..geometry import minimize_over_orbit
from ._base import Mechanism, finish_hyperparameters


def hessian_trace(family: Family, params, second_moment=None) -> jax.Array:
    """``tr(Sigma J J^T)`` with ``J`` the Jacobian of the flattened predictor in the parameters."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    fn = lambda p: family.predictor(unravel(p)).reshape(-1)
    out = int(np.prod(family.predictor_shape)) if family.predictor_shape else 1
    jac = (jax.jacrev if out <= flat.size else jax.jacfwd)(fn)(flat)
    if second_moment is None:
        return jnp.sum(jac**2)
    if second_moment.ndim == 1:
        return jnp.sum(second_moment[:, None] * jac**2)
    return jnp.sum((second_moment @ jac) * jac)


@dataclasses.dataclass(frozen=True)
class LabelNoise(Mechanism):
    variance: jax.Array | float = 1.0
    learning_rate: jax.Array | float = 0.01
    second_moment: Any = None
    max_steps: int = 100
    finite_step: bool = False
    noise_df: float | None = None
    z_max: float = 10.0

    kind = "label_noise"

    @property
    def unit(self):
        return self.learning_rate * self.variance / 4.0

    def check(self, family):
        if not family.linear_predictor:
            raise DesignerInputError(
                "mechanism.kind",
                f"label_noise needs a model linear in its predictor; family {family.name} is not "
                "(use hadamard, group_hadamard, scalar_product or matrix_product)",
            )
        if self.finite_step:
            from ..transforms import IdentityTransform

            ok = family.name == "scalar_product" or (
                family.name == "hadamard" and getattr(family.basis, "name", family.basis) == "identity"
                and family.matrix_shape is None and isinstance(family.transform, IdentityTransform))
            if not ok or self.second_moment is not None:
                raise DesignerInputError(
                    "mechanism.finite_step", "the finite-step bias is for scalar_product and hadamard (identity basis, no "
                    "transform) with identity second moment")

    def _finite_step_table(self, family):
        from ..validate._finite_step import cached_bias_table

        try:
            eta, var = float(self.learning_rate), float(self.variance)
        except Exception:  # traced
            raise DesignerInputError("mechanism.learning_rate", "finite_step needs a concrete learning rate and variance") from None
        return cached_bias_table(eta, var, getattr(family, "depth", 2), self.noise_df, float(self.z_max))

    def fibre_functional(self, family, params):
        if self.finite_step:
            raise DesignerInputError("mechanism.finite_step", "the finite-step bias is for one-orbit families, not sums")
        return hessian_trace(family, params, self.second_moment)

    def orbit_shape(self, family, z):
        if self.finite_step:
            from ..validate._finite_step import finite_step_shape

            x = family.coefficients(z) if family.name == "hadamard" else z
            return finite_step_shape(x, self._finite_step_table(family)) / self.unit
        objective = lambda p: hessian_trace(family, p, self.second_moment)
        result = minimize_over_orbit(family, family.balanced_point(z), objective, max_steps=self.max_steps)
        return result.value


register_dataclass(
    LabelNoise, data_fields=["variance", "learning_rate", "second_moment"],
    meta_fields=["max_steps", "finite_step", "noise_df", "z_max"]
)


class LabelNoiseSpec(BaseModel):
    """SGD with label noise: ``(eta sigma^2/4) min_fibre tr(Sigma J J^T)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["label_noise"] = "label_noise"
    variance: float = Field(1.0, gt=0.0, le=1e6, description="label-noise variance sigma^2")
    learning_rate: float = Field(0.01, gt=0.0, le=1e3, description="SGD step eta")
    second_moment: list[float] | list[list[float]] | None = Field(
        None, description="E[x x^T] of the inputs: its diagonal (a list) or the full matrix; identity when omitted"
    )
    finite_step: bool = Field(False, description="the bias at the step eta itself (exact stationary law on the balanced "
                              "slice) instead of its small-step limit; scalar_product and hadamard (identity basis)")
    noise_df: float | None = Field(None, gt=2.0, le=1e6, description="finite_step: Student-t label noise with these "
                                   "degrees of freedom (unit variance times sigma^2); Gaussian when omitted")
    z_max: float = Field(10.0, gt=0.0, le=1e4, description="finite_step: the bias is tabulated up to |z| = z_max "
                         "(linear beyond)")

    #: Rank among mechanisms when designs tie (smaller first).
    rank: ClassVar[int] = 1

    @classmethod
    def hyperparameters(cls, request, a: float) -> tuple[dict, dict | None]:
        """``eta sigma^2 / 4 = lambda / a``: the label-noise variance at the request's learning rate."""
        eta = request.learning_rate

        def make(unit):
            mapping = {
                "label_noise_variance": 4.0 * unit / eta,
                "learning_rate": eta,
                "learning_rate_times_variance": 4.0 * unit,
                "relation": "eta sigma^2 / 4 = lambda / a",
            }
            return mapping, {"kind": "label_noise", "variance": 4.0 * unit / eta, "learning_rate": eta}

        return finish_hyperparameters(request, a, make)

    def build(self, family: Family | None = None) -> LabelNoise:
        sm = None
        if self.second_moment is not None:
            sm = np.asarray(self.second_moment, dtype=np.float64)
            if not np.all(np.isfinite(sm)):
                raise DesignerInputError("mechanism.second_moment", "contains a non-finite value")
            if family is not None:
                d = int(np.prod(family.predictor_shape)) if family.predictor_shape else 1
                if sm.shape not in ((d,), (d, d)):
                    raise DesignerInputError(
                        "mechanism.second_moment",
                        f"expected a diagonal of length {d} or a {d} x {d} matrix (the flattened predictor), got shape {list(sm.shape)}",
                    )
            if sm.ndim == 1 and np.any(sm < 0):
                raise DesignerInputError("mechanism.second_moment", "a second moment has a non-negative diagonal")
            if sm.ndim == 2:
                if not np.allclose(sm, sm.T, rtol=1e-10, atol=1e-12):
                    raise DesignerInputError("mechanism.second_moment", "the matrix must be symmetric")
                if np.linalg.eigvalsh(sm).min() < -1e-10 * max(1.0, np.abs(sm).max()):
                    raise DesignerInputError("mechanism.second_moment", "the matrix must be positive semi-definite")
            sm = np.ascontiguousarray(sm)
        return LabelNoise(float(self.variance), float(self.learning_rate), sm, finite_step=self.finite_step,
                          noise_df=self.noise_df, z_max=self.z_max)
