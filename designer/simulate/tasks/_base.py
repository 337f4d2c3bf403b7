"""The abstract task: data generated in JAX from a key, a model's outputs, task metrics.

A task owns examples (a dict of arrays with a leading example axis, one entry ``"y"`` for the
targets) and says how a model turns them into outputs. Two kinds:

- :class:`PredictorTask`: outputs depend on the model only through its predictor ``z``
  (linear regression, compressed sensing, matrix completion): any model whose predictor has
  ``predictor_shape`` trains on it, and the simulator gets ``dL/dz`` for free (the exact
  discrete identities of theory.md section 4 are stated in it);
- network tasks (ReLU and attention teacher-student) need the full forward pass of one family and
  may add parameters of their own (``extra_param_shapes``, e.g. attention's ``W_V``).

Finite tasks keep ``n_examples`` examples in ``data["train"]``; streaming tasks
(``streaming = True``) draw fresh examples each step with :meth:`fresh_examples`. The loss of a
step is ``sum_i weight_i * mean_over_output_entries (y_i - f_i)^2`` (+ penalties): weights come
from the sampler (and the task's own observation weights, ``data["train"]["weight"]``).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from designer._lazy import jax
from designer._lazy import jnp

from ...errors import DesignerInputError


class Task(abc.ABC):
    """Abstract base of every task (see module docstring)."""

    name: ClassVar[str]
    streaming: ClassVar[bool] = False
    #: A streaming task whose examples cost more to draw than a small step: the simulator draws
    #: them ahead for blocks of steps, from the steps' own keys (same trajectory). A gain for
    #: attention (teacher forward and 2,048 normals per step), a loss for Fig. 2's 8 inputs of 3.
    draws_ahead: ClassVar[bool] = False
    #: Compile the steps with XLA's MLIR fusion emitters on CPU instead of its loop emitters
    #: (:data:`designer.simulate._simulator.CPU_CHUNK_OPTIONS`): the loop emitters compile a chunk
    #: program with about 40% less CPU and run the steps of Figs. 2, 4, 5 and 6 as fast or faster
    #: with one seed (with 16, Fig. 5's about 10% slower, Figs. 4 and 6 faster), but attention's
    #: batched products run slower with them (Fig. 3, one seed: 26-28 against 24-25 us per step).
    fusion_emitters: ClassVar[bool] = False

    #: shape of the predictor a model must produce (None: the task needs a specific family).
    predictor_shape: tuple[int, ...] | None = None

    @abc.abstractmethod
    def generate(self, key: jax.Array, dtype: Any = "float32") -> dict:
        """Ground truth, training examples (``"train"``) and evaluation sets, from one key."""

    @property
    def n_examples(self) -> int:
        """Number of training examples of a finite task."""
        raise NotImplementedError

    def fresh_examples(self, data: dict, key: jax.Array, size: int) -> dict:
        """Fresh examples for one step of a streaming task."""
        raise NotImplementedError

    @abc.abstractmethod
    def outputs(self, model, params, data: dict, examples: dict) -> jax.Array:
        """Model outputs for ``examples``, same shape as ``examples["y"]``."""

    def extra_param_shapes(self, model) -> dict[str, tuple[int, ...]]:
        """Parameters the task's forward pass adds to the model's (default none)."""
        return {}

    def check_model(self, model) -> None:
        """Raise :class:`DesignerInputError` when ``model`` cannot be trained on this task."""
        if self.predictor_shape is not None:
            got = tuple(getattr(model, "predictor_shape", ()))
            if got != tuple(self.predictor_shape):
                raise DesignerInputError(
                    "model", f"{getattr(model, 'name', type(model).__name__)} has predictor shape {list(got)}, "
                    f"task {self.name} needs {list(self.predictor_shape)}")

    def prepare_metrics(self, data: dict) -> dict:
        """``data`` with what :meth:`metrics` can compute once for many records (default: as is).

        The simulator calls it once per :meth:`~designer.simulate.Simulator.run` and hands the
        result to every record; :meth:`metrics` must give the same numbers with or without it.
        """
        return data

    @abc.abstractmethod
    def metrics(self, model, params, data: dict) -> dict[str, jax.Array]:
        """Task metrics (train / test error, recovery, support, ...) as arrays."""


class PredictorTask(Task):
    """A task whose outputs depend on the model only through its predictor ``z``."""

    #: when True, ``outputs_from_predictor`` returns the outputs of all ``n_examples`` examples
    #: and the simulator gathers a minibatch's entries from them (cheap when that is a reshape).
    gather_outputs: ClassVar[bool] = False

    @abc.abstractmethod
    def outputs_from_predictor(self, z: jax.Array, data: dict, examples: dict) -> jax.Array:
        """Outputs for ``examples`` given the predictor ``z``."""

    def outputs(self, model, params, data, examples):
        return self.outputs_from_predictor(model.predictor(params), data, examples)

    @property
    def n_examples(self) -> int:
        return self._n_examples()

    @abc.abstractmethod
    def _n_examples(self) -> int: ...


def mse(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean squared difference over all entries."""
    return jnp.mean((a - b) ** 2)


def support_scores(estimate: jax.Array, truth: jax.Array, threshold: float) -> dict[str, jax.Array]:
    """Support precision and recall of ``|estimate| > threshold`` against ``truth != 0``.

    Precision is 1 when nothing is selected (no false positive); recall is 1 for an empty truth.
    """
    est = jnp.abs(estimate) > threshold
    true = truth != 0
    hit = jnp.sum(est & true)
    n_est, n_true = jnp.sum(est), jnp.sum(true)
    return {
        "n_above": n_est,
        "support_precision": jnp.where(n_est > 0, hit / jnp.maximum(n_est, 1), 1.0),
        "support_recall": jnp.where(n_true > 0, hit / jnp.maximum(n_true, 1), 1.0),
    }


def random_sparse(key, d: int, k: int, low: float, high: float, dtype, exclude_first: bool = False):
    """A ``k``-sparse vector: random support, magnitudes ``U[low, high]``, random signs."""
    kp, km, ks = jax.random.split(key, 3)
    if exclude_first:
        support = jax.random.permutation(kp, d - 1)[:k] + 1
    else:
        support = jax.random.permutation(kp, d)[:k]
    mags = jax.random.uniform(km, (k,), dtype, low, high)
    signs = jnp.where(jax.random.bernoulli(ks, 0.5, (k,)), 1.0, -1.0).astype(dtype)
    return jnp.zeros((d,), dtype).at[support].set(signs * mags)
