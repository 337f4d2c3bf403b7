"""Two-layer bias-free ReLU teacher-student with fresh samples each step (paper Fig. 2).

Teacher ``f*(x) = relu(x W*^T) V*`` with entries ``N(0, teacher_std^2)``; inputs ``x ~ N(0, I)``
drawn afresh every step (the paper's output noise ``N(0, 0.1^2)`` is a ``label_noise`` piece of
the simulation). The student is a :class:`designer.families.ReluTwoLayer` (its ``apply``).
Metric: ``train_mse`` on a fixed evaluation set of ``eval_size`` clean examples (the authors
evaluate on a large batch too).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ...families import ReluTwoLayer
from ._base import DesignerInputError, Task, mse


@dataclasses.dataclass(frozen=True)
class ReluTeacher(Task):
    inputs: int = 3
    teacher_hidden: int = 16
    output_dim: int = 1
    teacher_std: float = 1.5
    eval_size: int = 800

    name = "relu_teacher"
    streaming = True

    def _teacher(self, data, x):
        return jax.nn.relu(x @ data["teacher"]["W"].T) @ data["teacher"]["V"]

    def generate(self, key, dtype="float32"):
        kw, kv, ke = jax.random.split(key, 3)
        teacher = {
            "W": self.teacher_std * jax.random.normal(kw, (self.teacher_hidden, self.inputs), dtype),
            "V": self.teacher_std * jax.random.normal(kv, (self.teacher_hidden, self.output_dim), dtype),
        }
        x = jax.random.normal(ke, (self.eval_size, self.inputs), dtype)
        data = {"teacher": teacher}
        data["eval"] = {"x": x, "y": self._teacher(data, x)}
        return data

    def fresh_examples(self, data, key, size):
        dtype = data["teacher"]["W"].dtype
        x = jax.random.normal(key, (size, self.inputs), dtype)
        return {"x": x, "y": self._teacher(data, x)}

    def check_model(self, model):
        if not isinstance(model, ReluTwoLayer):
            raise DesignerInputError("model", f"relu_teacher trains a relu_two_layer family, got {getattr(model, 'name', model)}")
        if (model.inputs, model.outputs) != (self.inputs, self.output_dim):
            raise DesignerInputError("model", f"student inputs/outputs {model.inputs}/{model.outputs} "
                                     f"differ from the teacher's {self.inputs}/{self.output_dim}")

    def outputs(self, model, params, data, examples):
        return model.apply(params, examples["x"])

    def metrics(self, model, params, data):
        return {"train_mse": mse(model.apply(params, data["eval"]["x"]), data["eval"]["y"])}


class ReluTeacherSpec(BaseModel):
    """Two-layer ReLU teacher-student (paper Fig. 2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["relu_teacher"] = "relu_teacher"
    inputs: int = Field(3, ge=1, le=65_536)
    teacher_hidden: int = Field(16, ge=1, le=4096)
    outputs: int = Field(1, ge=1, le=4096)
    teacher_std: float = Field(1.5, gt=0.0)
    eval_size: int = Field(800, ge=1, le=1_000_000)

    def build(self) -> ReluTeacher:
        return ReluTeacher(inputs=self.inputs, teacher_hidden=self.teacher_hidden, output_dim=self.outputs,
                           teacher_std=self.teacher_std, eval_size=self.eval_size)
