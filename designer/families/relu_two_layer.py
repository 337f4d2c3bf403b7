"""Two-layer bias-free ReLU network, ``f(x) = sum_j v_j relu(<w_j, x>)``.

Per-unit positive rescaling ``(w_j, v_j) -> (e^t w_j, e^-t v_j)`` preserves the function. The
predictor records each unit's outer product ``z_j = v_j w_j^T`` (hidden x (outputs * inputs)),
the invariant that determines the unit up to this rescaling (the sign pattern of ``v`` is a discrete
choice the lift takes positive). Balanced: ``|v_j| = |w_j|``; gauge bias
``(T/2) sum_j log(2 |v_j| |w_j|)``; the paper's balance ratio is ``|v_j| / |W[j, :]|``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from ._base import Family, rank_one_check, require
from ._matrix import svd


@dataclasses.dataclass(frozen=True)
class ReluTwoLayer(Family):
    hidden: int
    inputs: int
    outputs: int = 1

    name = "relu_two_layer"
    linear_predictor = False

    @property
    def predictor_shape(self):
        return (self.hidden, self.outputs * self.inputs)

    def param_shapes(self):
        return {"W": (self.hidden, self.inputs), "V": (self.hidden, self.outputs)}

    def predictor(self, params):
        outer = params["V"][:, :, None] * params["W"][:, None, :]
        return outer.reshape(self.hidden, self.outputs * self.inputs)

    def apply(self, params, x):
        """The network's output for inputs ``x`` (batch x inputs) -> (batch x outputs).

        Differentiable in reverse mode only (:func:`designer._jax.matmul`, for the simulator).
        """
        from .._jax import matmul  # JAX-only module: imported when the model runs

        return matmul(jax.nn.relu(matmul(x, params["W"].T)), params["V"])

    @property
    def n_blocks(self):
        return self.hidden

    @property
    def block_size(self):
        return self.inputs + self.outputs

    symmetric_mask = (True,)

    def to_blocks(self, params):
        return jnp.concatenate([params["W"], params["V"]], axis=1)

    def from_blocks(self, blocks):
        return {"W": blocks[:, : self.inputs], "V": blocks[:, self.inputs:]}

    def block_action(self, x, t):
        scale = jnp.concatenate([jnp.broadcast_to(jnp.exp(t), (self.inputs,)), jnp.broadcast_to(jnp.exp(-t), (self.outputs,))])
        return x * scale

    def balanced_point(self, z):
        mats = z.reshape(self.hidden, self.outputs, self.inputs)
        if self.outputs == 1:
            norm = jnp.linalg.norm(mats[:, 0, :], axis=1)
            root = jnp.sqrt(norm)
            safe = jnp.where(root > 0, root, 1.0)
            w = jnp.where(root[:, None] > 0, mats[:, 0, :] / safe[:, None], 0.0)
            return {"W": w, "V": root[:, None]}
        u, s, vt = jax.vmap(svd)(mats)
        root = jnp.sqrt(s[:, 0])
        return {"W": root[:, None] * vt[:, 0, :], "V": root[:, None] * u[:, :, 0]}

    def check_point(self, z, field="points"):
        super().check_point(z, field)
        rank_one_check(np.asarray(z).reshape(self.hidden, self.outputs, self.inputs), field, "unit")


register_dataclass(ReluTwoLayer, data_fields=[], meta_fields=["hidden", "inputs", "outputs"])


class ReluTwoLayerSpec(BaseModel):
    """Two-layer bias-free ReLU network with per-unit rescaling symmetry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["relu_two_layer"] = "relu_two_layer"
    hidden: int | None = Field(None, ge=1, le=limits.MAX_HIDDEN, description="hidden units; from the points when omitted")
    inputs: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="input dimension; from the points when omitted")
    outputs: int = Field(1, ge=1, le=limits.MAX_HIDDEN, description="output dimension")

    def build(self, shape: tuple[int, ...] | None = None) -> ReluTwoLayer:
        hidden, inputs = self.hidden, self.inputs
        if shape is not None:
            require(len(shape) == 2, "points", f"relu_two_layer predictors are hidden x (outputs*inputs) matrices, got shape {list(shape)}")
            require(shape[1] % self.outputs == 0, "param.outputs", f"outputs={self.outputs} does not divide the row length {shape[1]}")
            require(hidden is None or hidden == shape[0], "param.hidden", f"hidden={hidden} but the points have {shape[0]} rows")
            got_inputs = shape[1] // self.outputs
            require(inputs is None or inputs == got_inputs, "param.inputs", f"inputs={inputs} but the points imply {got_inputs}")
            hidden, inputs = shape[0], got_inputs
        require(hidden is not None and inputs is not None, "param.hidden", "give hidden and inputs, or points to take them from")
        return ReluTwoLayer(hidden=hidden, inputs=inputs, outputs=self.outputs)
