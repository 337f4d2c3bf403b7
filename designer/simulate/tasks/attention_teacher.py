"""Single-head attention teacher-student (paper Fig. 3).

``h(x) = softmax(x W_Q (x W_K)^T / sqrt(d_head)) x W_V`` per sequence ``x`` (seq x d_emb), no
output projection. Teacher entries ``N(0, teacher_std^2)``; with ``query_boost`` the teacher's
``W_Q`` is multiplied by ``4 + 4 |N(0, 1)|`` as in the authors' script. Fresh ``x ~ N(0, I)``
each step. The student's ``W_Q, W_K`` are a :class:`designer.families.AttentionQK` (its
``scores``); ``W_V`` is a parameter the task adds. Metric: ``train_mse`` on a fixed clean
evaluation set.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ...families import AttentionQK
from ._base import DesignerInputError, Task, mse


def attention_forward(scores_fn, wv, x):
    """``softmax(scores(x)) x W_V`` for a batch of sequences x (batch x seq x d_emb).

    Per sequence, with :func:`designer._jax.matmul` for the products of the attention weights,
    so that no gradient is a transposed batched product: Fig. 3's step 253 -> 155 us for one
    seed. (Projecting the whole batch at once with ``matmul`` as well was 13% faster for 16
    seeds but 18% slower for one; benchmarks/bench_simulate.py times one.)
    """
    from ..._jax import matmul  # JAX-only module: imported when the model runs

    return jax.vmap(lambda s: matmul(jax.nn.softmax(scores_fn(s), axis=-1), s @ wv))(x)


@dataclasses.dataclass(frozen=True)
class AttentionTeacher(Task):
    d_emb: int = 16
    d_head: int = 8
    seq: int = 8
    teacher_std: float = 0.75
    query_boost: bool = True
    eval_size: int = 1600

    name = "attention_teacher"
    streaming = True
    draws_ahead = True  # Fig. 3's step 165 -> 143 us
    fusion_emitters = True  # Fig. 3's step 26-28 -> 24-25 us

    def _teacher(self, data, x):
        t = data["teacher"]
        scale = 1.0 / jnp.sqrt(jnp.asarray(self.d_head, x.dtype))
        return attention_forward(lambda s: (s @ t["WQ"]) @ (s @ t["WK"]).T * scale, t["WV"], x)

    def generate(self, key, dtype="float32"):
        kq, kk, kv, kb, ke = jax.random.split(key, 5)
        shape = (self.d_emb, self.d_head)
        teacher = {n: self.teacher_std * jax.random.normal(k, shape, dtype) for n, k in (("WQ", kq), ("WK", kk), ("WV", kv))}
        if self.query_boost:
            teacher["WQ"] = teacher["WQ"] * (4 + 4 * jnp.abs(jax.random.normal(kb, (), dtype)))
        data = {"teacher": teacher}
        x = jax.random.normal(ke, (self.eval_size, self.seq, self.d_emb), dtype)
        data["eval"] = {"x": x, "y": self._teacher(data, x)}
        return data

    def fresh_examples(self, data, key, size):
        x = jax.random.normal(key, (size, self.seq, self.d_emb), data["teacher"]["WQ"].dtype)
        return {"x": x, "y": self._teacher(data, x)}

    def extra_param_shapes(self, model):
        return {"WV": (self.d_emb, self.d_head)}

    def check_model(self, model):
        if not isinstance(model, AttentionQK):
            raise DesignerInputError("model", f"attention_teacher trains an attention_qk family, got {getattr(model, 'name', model)}")
        if (model.d_emb, model.d_head) != (self.d_emb, self.d_head):
            raise DesignerInputError("model", f"student d_emb/d_head {model.d_emb}/{model.d_head} "
                                     f"differ from the task's {self.d_emb}/{self.d_head}")

    def outputs(self, model, params, data, examples):
        return attention_forward(lambda s: model.scores(params, s), params["WV"], examples["x"])

    def metrics(self, model, params, data):
        return {"train_mse": mse(self.outputs(model, params, data, data["eval"]), data["eval"]["y"])}


class AttentionTeacherSpec(BaseModel):
    """Single-head attention teacher-student (paper Fig. 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["attention_teacher"] = "attention_teacher"
    d_emb: int = Field(16, ge=1, le=1024)
    d_head: int = Field(8, ge=1, le=256)
    seq: int = Field(8, ge=1, le=4096)
    teacher_std: float = Field(0.75, gt=0.0)
    query_boost: bool = True
    eval_size: int = Field(1600, ge=1, le=1_000_000)

    def build(self) -> AttentionTeacher:
        return AttentionTeacher(**self.model_dump(exclude={"kind"}))
