"""SGD simulator in JAX (issue 4): scan inside jit, vmap over seeds and hyperparameters.

Public names only; the implementation lives in the private modules beside this file.
"""

from ._metrics import balance_ratios, model_metrics
from ._models import Plain, build_model
from ._noise import (
    NOISES, Bernoulli, Clip, Hyper, L1Penalty, LabelNoise, Langevin, Minibatch, NoiseSpec, Piece,
    Sampler, WeightDecay, build_noise, symmetric_alpha_stable,
)
from ._simulator import RESULTS, Simulation, Simulator, State, StepInfo
from .tasks import TASKS, PredictorTask, Task, TaskSpec, build_task

__all__ = [
    "NOISES", "RESULTS", "TASKS", "Bernoulli", "Clip", "Hyper", "L1Penalty", "LabelNoise", "Langevin",
    "Minibatch", "NoiseSpec", "Piece", "Plain", "PredictorTask", "Sampler", "Simulation", "Simulator",
    "State", "StepInfo", "Task", "TaskSpec", "WeightDecay", "balance_ratios", "build_model",
    "build_noise", "build_task", "model_metrics", "symmetric_alpha_stable",
]
