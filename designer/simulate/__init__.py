"""SGD simulator in JAX: scan inside jit, vmap over seeds and hyperparameters.

Public names only, loaded on first use (the specs ``NoiseSpec`` and ``TaskSpec`` import without
JAX); the implementation lives in the private modules beside this file.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    'balance_ratios': '._metrics',
    'model_metrics': '._metrics',
    'Plain': '._models',
    'build_model': '._models',
    'NOISES': '._noise',
    'Bernoulli': '._noise',
    'Clip': '._noise',
    'Hyper': '._noise',
    'L1Penalty': '._noise',
    'LabelNoise': '._noise',
    'Langevin': '._noise',
    'Minibatch': '._noise',
    'NoiseSpec': '._noise',
    'Piece': '._noise',
    'Sampler': '._noise',
    'WeightDecay': '._noise',
    'build_noise': '._noise',
    'symmetric_alpha_stable': '._noise',
    'RESULTS': '._simulator',
    'Simulation': '._simulator',
    'Simulator': '._simulator',
    'State': '._simulator',
    'StepInfo': '._simulator',
    'TASKS': '.tasks',
    'PredictorTask': '.tasks',
    'Task': '.tasks',
    'TaskSpec': '.tasks',
    'build_task': '.tasks',
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
