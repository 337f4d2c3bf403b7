"""Robust PCA (Candes, Li, Ma & Wright 2011): a low-rank matrix plus sparse gross corruptions, observed whole.

``Y = L* + S* + noise`` (rows x cols):

- ``L* = A B^T / sqrt(rank)`` with ``A`` (rows x rank) and ``B`` (cols x rank) i.i.d. ``N(0, 1)``
  entries (entries of ``L*`` have variance 1, rank ``rank`` almost surely);
- ``S*``: exactly ``round(corruption * rows * cols)`` entries, at a uniformly random set of
  positions, equal to ``+-magnitude`` with random signs (the large corruptions), zero elsewhere;
- ``noise``: i.i.d. ``N(0, noise^2)`` on every entry (0: the exact robust-PCA model).

Every entry is an example, so the full-batch loss is the matrix tasks' convention (matrix
completion with every entry observed): ``|Y - Z|_F^2 / (rows * cols)``, no factor 1/2.

Metrics: the fit ``train_mse`` (the loss), ``recovery_error = |Z - (L* + S*)|_F / |L* + S*|_F``
(the clean matrix), the singular values and effective rank of ``Z``; where the model exposes the
split (a sum whose terms are one or more matrix products, ``L``, and the rest, ``S``, e.g. the
``sparse_plus_low_rank`` design), ``low_rank_error = |L - L*|_F / |L*|_F`` and
``sparse_error = |S - S*|_F / |S*|_F`` (``|S|_F`` when there is no corruption) and the number
of entries of ``S`` above ``threshold``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import DesignerInputError, PredictorTask, mse
from .matrix import effective_rank


def corruptions(rows: int, cols: int, fraction: float) -> int:
    """Number of corrupted entries: ``round(fraction * rows * cols)``."""
    return int(round(fraction * rows * cols))


def low_rank_sparse_split(model, params):
    """``(L, S)`` of a sum model: its matrix-product terms and the rest; ``None`` for other models."""
    if getattr(model, "name", None) != "sum":
        return None
    parts = model.split(params)
    low = [s.predictor(p) for s, p in zip(model.scaled, parts) if s.term.name == "matrix_product"]
    rest = [s.predictor(p) for s, p in zip(model.scaled, parts) if s.term.name != "matrix_product"]
    if not low or not rest:
        return None
    return sum(low), sum(rest)


@dataclasses.dataclass(frozen=True)
class RobustPCA(PredictorTask):
    rows: int = 5
    cols: int = 6
    rank: int = 1
    corruption: float = 0.1
    magnitude: float = 5.0
    noise: float = 0.0
    threshold: float = 0.05

    name = "robust_pca"
    #: outputs are all entries (a reshape); the simulator gathers a minibatch's entries from them
    gather_outputs = True

    @property
    def predictor_shape(self):
        return (self.rows, self.cols)

    def _n_examples(self):
        return self.rows * self.cols

    @property
    def n_corrupted(self) -> int:
        return corruptions(self.rows, self.cols, self.corruption)

    def generate(self, key, dtype="float32"):
        ka, kb, kp, ks, ke = jax.random.split(key, 5)
        a = jax.random.normal(ka, (self.rows, self.rank), dtype)
        b = jax.random.normal(kb, (self.cols, self.rank), dtype)
        low = (a @ b.T) / math.sqrt(self.rank)
        entries = self.rows * self.cols
        k = self.n_corrupted
        where = jax.random.permutation(kp, entries)[:k]
        signs = jnp.where(jax.random.bernoulli(ks, 0.5, (k,)), 1.0, -1.0).astype(dtype)
        sparse = jnp.zeros((entries,), dtype).at[where].set(self.magnitude * signs).reshape(self.rows, self.cols)
        y = low + sparse + self.noise * jax.random.normal(ke, (self.rows, self.cols), dtype)
        return {"low_rank": low, "sparse": sparse, "truth": low + sparse, "observed": y,
                "train": {"index": jnp.arange(entries), "y": y.reshape(-1)}}

    def outputs_from_predictor(self, z, data, examples):
        return z.reshape(-1)

    def metrics(self, model, params, data):
        z = model.predictor(params)
        truth = data["truth"]
        s = jnp.linalg.svd(z, compute_uv=False)
        out = {
            "train_mse": mse(z, data["observed"]),
            "recovery_error": jnp.linalg.norm(z - truth) / jnp.maximum(jnp.linalg.norm(truth), jnp.finfo(z.dtype).tiny),
            "singular_values": s,
            "effective_rank": effective_rank(s),
        }
        split = low_rank_sparse_split(model, params)
        if split is not None:
            low, sparse = split
            tiny = jnp.finfo(z.dtype).tiny
            out["low_rank_error"] = jnp.linalg.norm(low - data["low_rank"]) / jnp.maximum(jnp.linalg.norm(data["low_rank"]), tiny)
            ns = jnp.linalg.norm(data["sparse"])
            out["sparse_error"] = jnp.linalg.norm(sparse - data["sparse"]) / jnp.where(ns > 0, ns, 1.0)
            out["sparse_entries"] = jnp.sum(jnp.abs(sparse) > self.threshold)
        return out


class RobustPCASpec(BaseModel):
    """Robust PCA: a low-rank matrix plus a fraction of large sparse corruptions (and optional noise), every entry observed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["robust_pca"] = "robust_pca"
    rows: int = Field(5, ge=1, le=1024)
    cols: int = Field(6, ge=1, le=1024)
    rank: int = Field(1, ge=1, le=1024, description="rank of the low-rank part L* (at most min(rows, cols))")
    corruption: float = Field(0.1, ge=0.0, le=1.0, description="fraction of entries of S* that are corrupted, in [0, 1]")
    magnitude: float = Field(5.0, ge=0.0, le=1e6, description="size of a corruption: S*_ij = +-magnitude")
    noise: float = Field(0.0, ge=0.0, le=1e6, description="standard deviation of the Gaussian noise on every entry")
    threshold: float = Field(0.05, ge=0.0, description="|S_ij| above this counts as a corruption found (metric)")

    def build(self) -> RobustPCA:
        if self.rank > min(self.rows, self.cols):
            raise DesignerInputError("task.rank", f"rank={self.rank} exceeds min(rows, cols)={min(self.rows, self.cols)}")
        if self.rows * self.cols > 65_536:
            raise DesignerInputError("task.rows", f"at most 65,536 entries, got {self.rows} x {self.cols}")
        return RobustPCA(**self.model_dump(exclude={"kind"}))
