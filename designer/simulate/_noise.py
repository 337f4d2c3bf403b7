"""Noise models and step modifiers of the simulator: one small piece each, one registry line each.

A simulation is a list of pieces. Each piece acts through at most a few hooks of one SGD step
(theory.md section 4, docs/experiments.md part B):

- ``sample``: which examples the step sees (minibatch with / without replacement, Bernoulli
  subsampling); the batch size is a traced hyperparameter, so shapes stay static: the sampler
  draws ``max_batch_size`` indices and weights the first ``batch_size`` of them;
- ``perturb_targets``: label noise added to the targets afresh each step (Gaussian, Student-t,
  symmetric alpha-stable by Chambers-Mallows-Stuck);
- ``penalty``: an explicit penalty on the predictor (the paper's ``plain + 0.1 |w|_1``);
- ``transform_grad``: gradient clipping, coupled weight decay (``g + lambda w``);
- ``after_update``: shrinking weight decay (``w <- (1 - eta lambda) w`` after the step, the form in
  which theory.md's "a further (1 - eta lambda)^2" identity is exact) and isotropic Gaussian
  parameter noise (Langevin, Euler-Maruyama: ``w <- w + sqrt(2 eta T) N(0, I)``).

Every continuous knob lives in a field of :class:`Hyper` (a pytree of arrays), so ``vmap`` sweeps
learning rate, batch size, noise level, temperature, weight decay and clipping in one compiled
computation. A piece's spec value is only the default of its field.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Union

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..errors import DesignerInputError
from .._specs import validate_spec


class Hyper(NamedTuple):
    """Continuous hyperparameters of one run (each a scalar array; a leading axis when batched).

    ``batch_size`` is an integer array (at most the sampler's ``max_batch_size``); the others are
    floating. Fields a simulation does not use are ignored.
    """

    learning_rate: Any
    batch_size: Any
    label_noise: Any
    temperature: Any
    weight_decay: Any
    clip_norm: Any
    l1: Any


#: Hyper fields that are floating point (``batch_size`` is an integer).
FLOAT_FIELDS = ("learning_rate", "label_noise", "temperature", "weight_decay", "clip_norm", "l1")


class Piece:
    """Base of every noise piece: all hooks are identities. Subclasses override a few."""

    kind: ClassVar[str]
    #: the Hyper field holding this piece's strength, and the spec's default for it.
    hyper_field: ClassVar[str | None] = None

    def default(self) -> float | None:
        return None

    def perturb_targets(self, key, y, hyper):
        return y

    #: With ``predraws``, the simulator asks the piece for a whole record interval's target
    #: randomness at once (:meth:`predraw`, before the inner scan) and hands each step its slice
    #: (:meth:`perturb_drawn`) instead of calling :meth:`perturb_targets` with a per-step key.
    #: The defaults pre-draw the steps' keys, so any piece can set it; a piece whose draws are
    #: costly overrides both to draw its numbers in one wide computation (per step, XLA may fuse
    #: the draws into the per-parameter update and recompute them once per parameter).
    predraws: ClassVar[bool] = False

    def predraw(self, key, n: int, shape, dtype):
        """Randomness of ``n`` steps for targets of ``shape``, leading axis ``n`` (default: keys)."""
        return jax.random.split(key, n)

    def perturb_drawn(self, y, drawn, hyper):
        """:meth:`perturb_targets` from the step's slice of :meth:`predraw` (default: its key)."""
        return self.perturb_targets(drawn, y, hyper)

    #: With ``draws_ahead``, a task that draws ahead (:attr:`designer.simulate.tasks.Task.draws_ahead`)
    #: has this piece's per-step numbers drawn for a block of steps at once, each step's from the
    #: key the step itself would use, and applied to the step's targets: the trajectory is the one
    #: of drawing them step by step. A piece that sets it has two more methods,
    #: ``draw(key, shape, dtype)`` and ``perturb_with(y, xi, hyper)``, with
    #: ``perturb_targets(key, y, hyper) == perturb_with(y, draw(key, y.shape, y.dtype), hyper)``
    #: (:class:`LabelNoise`).
    draws_ahead: ClassVar[bool] = False

    def penalty(self, z, hyper):
        return 0.0

    def transform_grad(self, grads, params, hyper):
        return grads

    def after_update(self, params, key, hyper):
        return params


class Sampler(Piece):
    """A piece that chooses the examples of a step (at most one per simulation)."""

    hyper_field = "batch_size"
    max_batch_size: int

    def sample(self, key, n: int, hyper) -> tuple[jax.Array | None, jax.Array]:
        """``(indices, weights)``: gather ``indices`` (None: all ``n`` examples) and weight each
        selected example's loss by ``weights`` (the step's loss is the weighted sum)."""
        raise NotImplementedError


# -- samplers ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Minibatch(Sampler):
    """Uniform minibatch of ``batch_size`` examples, with or without replacement (mean loss)."""

    batch_size: int
    replacement: bool = False
    max_batch_size: int = 0
    kind = "minibatch"

    def default(self):
        return self.batch_size

    def mask(self, hyper, dtype):
        b = hyper.batch_size
        return (jnp.arange(self.max_batch_size) < b).astype(dtype) / b.astype(dtype)

    def sample(self, key, n, hyper):
        if self.replacement:
            idx = jax.random.randint(key, (self.max_batch_size,), 0, n)
        else:
            idx = jax.random.permutation(key, n)[: self.max_batch_size]
        return idx, self.mask(hyper, jnp.result_type(hyper.learning_rate))


@dataclasses.dataclass(frozen=True)
class Bernoulli(Sampler):
    """Each example enters the step independently with probability ``fraction``.

    ``normalize="all"`` divides the summed loss by the number of examples ``n`` (the paper's Fig. 4
    averages the masked error over all entries); ``"expected"`` by ``fraction * n``.
    """

    fraction: float
    normalize: str = "all"
    kind = "bernoulli"
    hyper_field = None
    max_batch_size = 0

    def sample(self, key, n, hyper):
        dtype = jnp.result_type(hyper.learning_rate)
        # compare raw 32-bit draws with the threshold: no float conversion (the hot path of Fig. 4)
        threshold = min(int(round(self.fraction * 2.0**32)), 2**32 - 1)
        keep = (jax.random.bits(key, (n,), jnp.uint32) < jnp.uint32(threshold)).astype(dtype)
        if self.fraction >= 1.0:
            keep = jnp.ones((n,), dtype)
        denom = n if self.normalize == "all" else self.fraction * n
        return None, keep / denom


# -- label noise ---------------------------------------------------------------------------------

def symmetric_alpha_stable(key, alpha: float, shape, dtype=None):
    """Standard symmetric alpha-stable samples (Chambers-Mallows-Stuck, skewness 0).

    ``X = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha)/alpha)`` with
    ``V ~ U(-pi/2, pi/2)``, ``W ~ Exp(1)``; ``alpha = 2`` gives ``N(0, 2)``, ``alpha = 1`` Cauchy.
    """
    dtype = jnp.float32 if dtype is None else dtype
    kv, kw = jax.random.split(key)
    half_pi = jnp.asarray(math.pi / 2, dtype)
    v = jax.random.uniform(kv, shape, dtype, -half_pi, half_pi)
    w = jax.random.exponential(kw, shape, dtype)
    return chambers_mallows_stuck(v, w, alpha)


def chambers_mallows_stuck(v, w, alpha: float):
    """The map ``(V ~ U(-pi/2, pi/2), W ~ Exp(1)) -> symmetric alpha-stable`` of
    :func:`symmetric_alpha_stable`, for callers that draw ``V`` and ``W`` themselves."""
    if alpha == 1.0:
        return jnp.tan(v)
    # sin(a V) / cos(V)^(1/a) * (cos((1-a) V) / W)^((1-a)/a), with one exp instead of two powers
    log_rest = (1.0 - alpha) * (jnp.log(jnp.cos((1.0 - alpha) * v)) - jnp.log(w)) - jnp.log(jnp.cos(v))
    return jnp.sin(alpha * v) * jnp.exp(log_rest / alpha)


@dataclasses.dataclass(frozen=True)
class LabelNoise(Piece):
    """Fresh noise on the targets each step: ``y + scale * xi``.

    ``gaussian``: ``xi ~ N(0, 1)``. ``student_t``: ``xi ~ t(df)``, divided by its standard
    deviation ``sqrt(df / (df - 2))`` when ``unit_variance`` (needs ``df > 2``).
    ``alpha_stable``: standard symmetric alpha-stable (infinite variance for alpha < 2; ``scale`` is
    its scale parameter).
    """

    scale: float
    distribution: str = "gaussian"
    df: float = 3.0
    alpha: float = 1.5
    unit_variance: bool = True
    kind = "label_noise"
    hyper_field = "label_noise"

    def default(self):
        return self.scale

    def draw(self, key, shape, dtype):
        if self.distribution == "gaussian":
            return jax.random.normal(key, shape, dtype)
        if self.distribution == "student_t":
            xi = jax.random.t(key, self.df, shape, dtype)
            if self.unit_variance:
                xi = xi * math.sqrt((self.df - 2.0) / self.df)
            return xi
        return symmetric_alpha_stable(key, self.alpha, shape, dtype)

    draws_ahead = True

    def perturb_with(self, y, xi, hyper):
        return y + hyper.label_noise.astype(y.dtype) * xi

    def perturb_targets(self, key, y, hyper):
        return self.perturb_with(y, self.draw(key, y.shape, y.dtype), hyper)


# -- penalties and gradient transforms -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class L1Penalty(Piece):
    """Explicit ``strength * |z|_1`` on the predictor (subgradient ``sign(z)`` at 0 is 0)."""

    strength: float
    kind = "l1_penalty"
    hyper_field = "l1"

    def default(self):
        return self.strength

    def penalty(self, z, hyper):
        return hyper.l1.astype(z.dtype) * jnp.sum(jnp.abs(z))


@dataclasses.dataclass(frozen=True)
class Clip(Piece):
    """Gradient clipping: by global norm (``g * min(1, c / |g|)``) or elementwise to ``[-c, c]``."""

    max_norm: float
    mode: str = "global_norm"
    kind = "clip"
    hyper_field = "clip_norm"

    def default(self):
        return self.max_norm

    def transform_grad(self, grads, params, hyper):
        leaves = jax.tree_util.tree_leaves(grads)
        c = hyper.clip_norm.astype(leaves[0].dtype)
        if self.mode == "value":
            return jax.tree_util.tree_map(lambda g: jnp.clip(g, -c, c), grads)
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in leaves))
        factor = jnp.minimum(1.0, c / jnp.maximum(norm, jnp.finfo(norm.dtype).tiny))
        return jax.tree_util.tree_map(lambda g: g * factor, grads)


@dataclasses.dataclass(frozen=True)
class WeightDecay(Piece):
    """Weight decay ``lambda``.

    ``coupled``: the gradient of ``lambda/2 |w|^2`` is added, ``g + lambda w`` (torch's SGD
    ``weight_decay``); for ``z = u v`` one GD step multiplies the imbalance by
    ``(1 - eta lambda)^2 - eta^2 g^2``. ``shrink``: after the step ``w <- (1 - eta lambda) w``; the
    imbalance is multiplied by ``(1 - eta lambda)^2 (1 - eta^2 g^2)`` (theory.md section 4).
    """

    strength: float
    mode: str = "coupled"
    #: top-level parameter names it skips: the model's ``free_params`` (set by the simulator)
    exclude: tuple[str, ...] = ()
    kind = "weight_decay"
    hyper_field = "weight_decay"

    def default(self):
        return self.strength

    def _map(self, fn, tree, *rest):
        if not self.exclude or not isinstance(tree, dict):
            return jax.tree_util.tree_map(fn, tree, *rest)
        return {k: v if k in self.exclude else jax.tree_util.tree_map(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}

    def transform_grad(self, grads, params, hyper):
        if self.mode != "coupled":
            return grads
        return self._map(lambda g, w: g + hyper.weight_decay.astype(w.dtype) * w, grads, params)

    def after_update(self, params, key, hyper):
        if self.mode != "shrink":
            return params
        return self._map(lambda w: (1 - hyper.learning_rate * hyper.weight_decay).astype(w.dtype) * w, params)


@dataclasses.dataclass(frozen=True)
class Langevin(Piece):
    """Isotropic Gaussian parameter noise at temperature ``T`` (the paper's diffusion model).

    Euler-Maruyama for ``dw = -grad L dt + sqrt(2 T) dB`` with ``dt = eta``: after the update,
    ``w <- w + sqrt(2 eta T) xi``, ``xi ~ N(0, I)``.
    """

    temperature: float
    kind = "langevin"
    hyper_field = "temperature"

    def default(self):
        return self.temperature

    def after_update(self, params, key, hyper):
        leaves, tree = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(key, len(leaves))
        noisy = [w + jnp.sqrt(2 * hyper.learning_rate * hyper.temperature).astype(w.dtype)
                 * jax.random.normal(k, w.shape, w.dtype) for k, w in zip(keys, leaves)]
        return jax.tree_util.tree_unflatten(tree, noisy)


# -- specs ---------------------------------------------------------------------------------------

class _PieceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinibatchPieceSpec(_PieceSpec):
    """Uniform minibatches (for streaming tasks: fresh samples of this size)."""

    kind: Literal["minibatch"] = "minibatch"
    batch_size: int = Field(..., ge=1, le=1_000_000, description="examples per step")
    replacement: bool = Field(False, description="sample with replacement")
    max_batch_size: int | None = Field(None, ge=1, le=1_000_000,
                                       description="static upper bound for batch-size sweeps (default batch_size)")

    def build(self) -> Minibatch:
        cap = self.max_batch_size or self.batch_size
        if cap < self.batch_size:
            raise DesignerInputError("noise.max_batch_size", f"{cap} is below batch_size={self.batch_size}")
        return Minibatch(batch_size=self.batch_size, replacement=self.replacement, max_batch_size=cap)


class BernoulliPieceSpec(_PieceSpec):
    """Each example kept independently with probability ``fraction`` (paper Fig. 4)."""

    kind: Literal["bernoulli"] = "bernoulli"
    fraction: float = Field(..., gt=0.0, le=1.0)
    normalize: Literal["all", "expected"] = "all"

    def build(self) -> Bernoulli:
        return Bernoulli(fraction=self.fraction, normalize=self.normalize)


class LabelNoisePieceSpec(_PieceSpec):
    """Fresh label noise each step."""

    kind: Literal["label_noise"] = "label_noise"
    distribution: Literal["gaussian", "student_t", "alpha_stable"] = "gaussian"
    scale: float = Field(..., ge=0.0, description="standard deviation (scale parameter for alpha-stable)")
    df: float = Field(3.0, gt=0.0, description="Student-t degrees of freedom")
    alpha: float = Field(1.5, gt=0.0, le=2.0, description="stability index of the alpha-stable law")
    unit_variance: bool = Field(True, description="rescale Student-t to unit variance (needs df > 2)")

    def build(self) -> LabelNoise:
        if self.distribution == "student_t" and self.unit_variance and self.df <= 2:
            raise DesignerInputError("noise.df", f"unit_variance needs df > 2, got {self.df}")
        return LabelNoise(scale=self.scale, distribution=self.distribution, df=self.df,
                          alpha=self.alpha, unit_variance=self.unit_variance)


class LangevinPieceSpec(_PieceSpec):
    """Isotropic Gaussian parameter noise (Euler-Maruyama Langevin)."""

    kind: Literal["langevin"] = "langevin"
    temperature: float = Field(..., ge=0.0)

    def build(self) -> Langevin:
        return Langevin(temperature=self.temperature)


class ClipPieceSpec(_PieceSpec):
    """Gradient clipping."""

    kind: Literal["clip"] = "clip"
    max_norm: float = Field(..., gt=0.0)
    mode: Literal["global_norm", "value"] = "global_norm"

    def build(self) -> Clip:
        return Clip(max_norm=self.max_norm, mode=self.mode)


class WeightDecayPieceSpec(_PieceSpec):
    """Weight decay (coupled gradient term or multiplicative shrink after the step)."""

    kind: Literal["weight_decay"] = "weight_decay"
    strength: float = Field(..., ge=0.0)
    mode: Literal["coupled", "shrink"] = "coupled"

    def build(self) -> WeightDecay:
        return WeightDecay(strength=self.strength, mode=self.mode)


class L1PenaltyPieceSpec(_PieceSpec):
    """Explicit L1 penalty on the predictor."""

    kind: Literal["l1_penalty"] = "l1_penalty"
    strength: float = Field(..., ge=0.0)

    def build(self) -> L1Penalty:
        return L1Penalty(strength=self.strength)


#: noise kind -> its pydantic spec (``build()`` makes the piece).
NOISES: dict[str, type] = {
    "minibatch": MinibatchPieceSpec,
    "bernoulli": BernoulliPieceSpec,
    "label_noise": LabelNoisePieceSpec,
    "langevin": LangevinPieceSpec,
    "clip": ClipPieceSpec,
    "weight_decay": WeightDecayPieceSpec,
    "l1_penalty": L1PenaltyPieceSpec,
}

NoiseSpec = Annotated[Union[tuple(NOISES.values())], Field(discriminator="kind")]
_ADAPTER = TypeAdapter(NoiseSpec)


def build_noise(spec: Any, field: str = "noise") -> Piece:
    """Make a noise piece from a spec (dict, JSON text, spec object or an already built piece)."""
    if isinstance(spec, Piece):
        return spec
    return validate_spec(_ADAPTER, spec, field).build()
