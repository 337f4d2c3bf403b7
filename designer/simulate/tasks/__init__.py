"""Tasks of the simulator: one file each, one line each in ``TASKS``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from ..._specs import validate_spec
from ...errors import DesignerInputError
from ._base import PredictorTask, Task
from .attention_teacher import AttentionTeacher, AttentionTeacherSpec
from .cosine_sparse import CosineSparse, CosineSparseSpec
from .matrix import MatrixCompletion, MatrixCompletionSpec, MatrixSensing, MatrixSensingSpec, effective_rank
from .piecewise_constant import PiecewiseConstant, PiecewiseConstantSpec
from .relu_teacher import ReluTeacher, ReluTeacherSpec
from .robust_pca import RobustPCA, RobustPCASpec
from .scalar_target import ScalarTarget, ScalarTargetSpec
from .sparse_regression import SparseRegression, SparseRegressionSpec

#: task kind -> its pydantic spec (``build()`` makes the task).
TASKS: dict[str, type] = {
    "sparse_regression": SparseRegressionSpec,
    "cosine_sparse": CosineSparseSpec,
    "piecewise_constant": PiecewiseConstantSpec,
    "matrix_completion": MatrixCompletionSpec,
    "matrix_sensing": MatrixSensingSpec,
    "robust_pca": RobustPCASpec,
    "relu_teacher": ReluTeacherSpec,
    "attention_teacher": AttentionTeacherSpec,
    "scalar_target": ScalarTargetSpec,
}

TaskSpec = Annotated[Union[tuple(TASKS.values())], Field(discriminator="kind")]
_ADAPTER = TypeAdapter(TaskSpec)


def build_task(spec: Any, field: str = "task") -> Task:
    """Make a task from a spec (dict, JSON text, spec object, or an already built task)."""
    if isinstance(spec, Task):
        return spec
    parsed = validate_spec(_ADAPTER, spec, field)
    try:
        return parsed.build()
    except DesignerInputError as exc:  # the specs name their fields "task.<name>": say where the task is
        if field != "task" and (exc.field == "task" or exc.field.startswith("task.")):
            raise DesignerInputError(field + exc.field[len("task"):], exc.message) from None
        raise


__all__ = [
    "TASKS", "Task", "PredictorTask", "TaskSpec", "build_task", "effective_rank",
    "AttentionTeacher", "CosineSparse", "MatrixCompletion", "MatrixSensing", "PiecewiseConstant",
    "ReluTeacher", "RobustPCA", "ScalarTarget", "SparseRegression",
]
