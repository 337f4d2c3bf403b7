"""Low-rank matrix recovery (paper Fig. 4): completion from observed entries, and sensing.

Target ``M* = U diag(s) V^T`` with random orthonormal ``U`` (rows x r) and ``V`` (cols x r) from QR
of Gaussian matrices, ``s = singular_values``.

- completion: every entry is an example (a static count), the observation mask (Bernoulli with
  probability ``observed``) is the task's example weight, so the loss is the masked squared error
  averaged over all ``rows * cols`` entries as in the paper;
- sensing: ``n`` measurements ``y_k = <A_k, M*> + noise`` with ``A_k`` i.i.d. ``N(0, 1)`` entries.

Metrics: train / test error (observed / unobserved entries for completion), relative recovery
error ``|M - M*|_F / |M*|_F``, all singular values of the predictor and its effective rank.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import DesignerInputError, PredictorTask, mse


def low_rank_target(key, rows: int, cols: int, singular_values, dtype):
    """``U diag(s) V^T`` with random orthonormal factors (QR of Gaussian matrices)."""
    r = len(singular_values)
    ku, kv = jax.random.split(key)
    u = jnp.linalg.qr(jax.random.normal(ku, (rows, r), dtype))[0]
    v = jnp.linalg.qr(jax.random.normal(kv, (cols, r), dtype))[0]
    return (u * jnp.asarray(singular_values, dtype)[None, :]) @ v.T


def effective_rank(s: jax.Array) -> jax.Array:
    """Entropy effective rank ``exp(-sum p_i log p_i)``, ``p = s / sum s`` (Roy and Vetterli 2007)."""
    p = s / jnp.maximum(jnp.sum(s), jnp.finfo(s.dtype).tiny)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


def matrix_metrics(z, truth):
    s = jnp.linalg.svd(z, compute_uv=False)
    return {
        "recovery_error": jnp.linalg.norm(z - truth) / jnp.linalg.norm(truth),
        "singular_values": s,
        "effective_rank": effective_rank(s),
    }


@dataclasses.dataclass(frozen=True)
class MatrixCompletion(PredictorTask):
    rows: int = 20
    cols: int = 20
    singular_values: tuple[float, ...] = (15.0, 5.0)
    observed: float = 0.2

    name = "matrix_completion"
    #: outputs are computed for all entries (a reshape) and the simulator gathers a minibatch's
    #: entries from them: no gather/scatter pair in the full-batch and Bernoulli cases.
    gather_outputs = True

    @property
    def predictor_shape(self):
        return (self.rows, self.cols)

    def _n_examples(self):
        return self.rows * self.cols

    def generate(self, key, dtype="float32"):
        kt, km = jax.random.split(key)
        truth = low_rank_target(kt, self.rows, self.cols, self.singular_values, dtype)
        mask = jax.random.bernoulli(km, self.observed, (self.rows, self.cols)).astype(dtype)
        train = {"index": jnp.arange(self.rows * self.cols), "y": truth.reshape(-1), "weight": mask.reshape(-1)}
        return {"truth": truth, "mask": mask, "train": train}

    def outputs_from_predictor(self, z, data, examples):
        return z.reshape(-1)

    def metrics(self, model, params, data):
        z = model.predictor(params)
        sq = (z - data["truth"]) ** 2
        mask = data["mask"]
        out = {
            "train_mse": jnp.sum(sq * mask) / jnp.maximum(jnp.sum(mask), 1.0),
            "test_mse": jnp.sum(sq * (1 - mask)) / jnp.maximum(jnp.sum(1 - mask), 1.0),
            "loss_all_entries": jnp.mean(sq * mask),
        }
        out.update(matrix_metrics(z, data["truth"]))
        return out


@dataclasses.dataclass(frozen=True)
class MatrixSensing(PredictorTask):
    rows: int = 20
    cols: int = 20
    singular_values: tuple[float, ...] = (15.0, 5.0)
    n: int = 200
    noise: float = 0.0

    name = "matrix_sensing"

    @property
    def predictor_shape(self):
        return (self.rows, self.cols)

    def _n_examples(self):
        return self.n

    def generate(self, key, dtype="float32"):
        kt, ka, ke = jax.random.split(key, 3)
        truth = low_rank_target(kt, self.rows, self.cols, self.singular_values, dtype)
        a = jax.random.normal(ka, (self.n, self.rows, self.cols), dtype)
        y = jnp.einsum("kij,ij->k", a, truth) + self.noise * jax.random.normal(ke, (self.n,), dtype)
        return {"truth": truth, "train": {"x": a, "y": y}}

    def outputs_from_predictor(self, z, data, examples):
        return jnp.einsum("kij,ij->k", examples["x"], z)

    def metrics(self, model, params, data):
        z = model.predictor(params)
        out = {"train_mse": mse(self.outputs_from_predictor(z, data, data["train"]), data["train"]["y"])}
        out.update(matrix_metrics(z, data["truth"]))
        return out


class _MatrixSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rows: int = Field(20, ge=1, le=1024)
    cols: int = Field(20, ge=1, le=1024)
    singular_values: tuple[float, ...] = Field((15.0, 5.0), description="singular values of the target")

    def _check(self):
        if not 1 <= len(self.singular_values) <= min(self.rows, self.cols):
            raise DesignerInputError("task.singular_values",
                                     f"need 1..{min(self.rows, self.cols)} values, got {len(self.singular_values)}")


class MatrixCompletionSpec(_MatrixSpec):
    """Low-rank matrix completion (paper Fig. 4)."""

    kind: Literal["matrix_completion"] = "matrix_completion"
    observed: float = Field(0.2, gt=0.0, le=1.0, description="probability that an entry is observed")

    def build(self) -> MatrixCompletion:
        self._check()
        return MatrixCompletion(rows=self.rows, cols=self.cols, singular_values=tuple(self.singular_values),
                                observed=self.observed)


class MatrixSensingSpec(_MatrixSpec):
    """Low-rank matrix sensing from Gaussian linear measurements."""

    kind: Literal["matrix_sensing"] = "matrix_sensing"
    n: int = Field(200, ge=1, le=1_000_000, description="measurements")
    noise: float = Field(0.0, ge=0.0)

    def build(self) -> MatrixSensing:
        self._check()
        return MatrixSensing(rows=self.rows, cols=self.cols, singular_values=tuple(self.singular_values),
                             n=self.n, noise=self.noise)
