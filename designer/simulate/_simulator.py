"""The SGD simulator: ``lax.scan`` inside ``jit``, ``vmap`` over runs (seeds x hyperparameters).

One step (theory.md section 4; every piece is optional):

1. examples: a streaming task draws ``max_batch_size`` fresh examples, a finite task gathers a
   minibatch (or all examples, or a Bernoulli subset) -- static shapes, the batch size is a
   traced weight mask, so a batch-size sweep is one compiled program;
2. targets get fresh label noise;
3. loss ``sum_i weight_i mean((y_i - f_i)^2) + penalty(z)`` and its gradient; for predictor tasks
   through ``z = phi(w)`` with ``jax.vjp``, which also returns ``dL/dz`` (the ``g`` of the exact
   identities);
4. gradient transforms (clipping, coupled weight decay), then the optax transformation
   (``optax.identity()`` for plain SGD; momentum, Adam, ... plug in) scaled by ``-learning_rate``;
5. after-update pieces (shrinking weight decay, Langevin noise).

Training is chunked: one compiled function runs ``records_per_chunk`` records of ``every`` steps
(nested scan: outer over records, inner over steps) for all runs at once; the host calls it
repeatedly, so progress reports and cancellation happen between chunks and nothing leaves the
device per step. A second call with the same shapes does not recompile (``n_traces`` counts traces).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, Callable, Iterable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import Cancelled, DesignerInputError
from ._metrics import model_metrics
from ._models import build_model
from ._noise import FLOAT_FIELDS, Hyper, Minibatch, Piece, Sampler, WeightDecay, build_noise
from .tasks import PredictorTask, build_task

#: Result codes of a run (``Simulation.status``): the service maps them to job errors.
RESULTS = {0: "ok", 1: "nonfinite"}


class State(NamedTuple):
    """Carry of the scan for one run."""

    params: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array
    loss: jax.Array


class StepInfo(NamedTuple):
    """What one step reports: the minibatch loss and ``dL/dz`` (zeros for network tasks)."""

    loss: jax.Array
    grad_predictor: jax.Array


class Simulation(NamedTuple):
    """Result of :meth:`Simulator.run`: final state, host copies of the records, status codes."""

    state: State
    records: dict[str, np.ndarray]
    status: np.ndarray


def _largest_divisor_at_most(n: int, cap: int) -> int:
    for d in range(max(1, min(n, cap)), 0, -1):
        if n % d == 0:
            return d
    return 1


#: A streaming task's examples are drawn ahead for blocks of at most this many steps (the
#: largest divisor of the record interval up to it): 256 steps of Fig. 3 are 3 MB per run.
#: Below ``MIN_EXAMPLE_BLOCK`` (a record interval with no such divisor, e.g. a large prime)
#: the extra scan costs more than it saves, and the steps draw their own.
EXAMPLE_BLOCK, MIN_EXAMPLE_BLOCK = 256, 8

#: XLA options for the chunk program on CPU. A step is a chain of tiny kernels (Fig. 3: about 80
#: per step, on 16 x 8 x 16 arrays), where YNNPACK's fused dots and Eigen's thread pool cost more
#: per call than the arithmetic: without them (Eigen single-threaded for every dot) Fig. 3's step
#: takes 47 instead of 74 us with one seed and 970 instead of 1,340 us with 16, Fig. 2's 3.0
#: instead of 4.9 us, the others the same or faster (benchmarks/bench_simulate.py).
#: XLA's older loop emitters instead of its MLIR fusion emitters, unless the task asks for the
#: latter (:attr:`designer.simulate.tasks.Task.fusion_emitters`): chunk programs compile with
#: about 40% less CPU (Fig. 6's designed curve 0.72 -> 0.53 s, Fig. 5's 0.62-0.68 -> 0.39-0.40
#: s), and their steps run as fast or faster (Fig. 6's designed 4.5 -> 3.7 us, one seed).
CPU_CHUNK_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "", "xla_cpu_use_xnnpack": False,
                     "xla_cpu_multi_thread_eigen": False, "xla_cpu_use_fusion_emitters": False}

#: XLA options on CPU for the programs that run once or a few times per run (set-up, snapshots,
#: the metrics' shared parts): LLVM's optimisations off, and XLA's older loop emitters instead of
#: its MLIR fusion emitters. Random draws compile slowly on CPU (one ``jax.random.normal`` 0.6 s,
#: 0.25 s without optimisation), and these programs' run time is negligible; the set-up and
#: snapshot programs of Figs. 2, 3 and 5 took 3.5-3.9 s of CPU to compile with the fusion
#: emitters and 2.4-2.5 s without.
ONCE_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def _on_cpu(options: dict) -> dict | None:
    """``options`` when JAX runs on CPU (they are XLA CPU options), else None."""
    return options if jax.default_backend() == "cpu" else None


class Simulator:
    """Train ``model`` on ``task`` by SGD with the given noise pieces (see module docstring).

    Args:
        model: a family spec / :class:`designer.families.Family`, or ``{"family": "plain"}``.
        task: a task spec or :class:`designer.simulate.tasks.Task`.
        noise: noise piece specs (``designer.simulate.NOISES``), applied in the listed order.
        optimizer: an optax transformation without learning rate (default ``optax.identity()``,
            plain SGD); the update is ``-learning_rate * optimizer(grad)``.
        dtype: float32 (default) or float64.
        metrics: record the task's and the model's metrics (default). ``False`` records only the
            batch loss, finiteness and step count, for callers that only read the end state (a
            sweep): the metrics of a large evaluation set can cost more than the steps between.
            A collection of metric names records those (and loss, finiteness, step) at every
            record, for callers that need a few curves and every metric at a few states
            (:meth:`snapshot_records`): XLA leaves the others out of the compiled steps.
    """

    def __init__(self, model, task, noise=(), optimizer: optax.GradientTransformation | None = None,
                 dtype: Any = jnp.float32, metrics: bool | Iterable[str] = True):
        self.task = build_task(task)
        self.model = build_model(model, self.task.predictor_shape)
        self.task.check_model(self.model)
        self.pieces: list[Piece] = [build_noise(n, f"noise[{i}]") for i, n in enumerate(noise)]
        free = tuple(getattr(self.model, "free_params", ()) or ())
        if free:  # parameters no mechanism touches (a sum's free term): weight decay skips them
            self.pieces = [dataclasses.replace(p, exclude=free) if isinstance(p, WeightDecay) else p for p in self.pieces]
        self.dtype = jnp.dtype(dtype)
        if self.dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
            raise DesignerInputError("dtype", f"float32 or float64, got {self.dtype}")
        self.optimizer = optimizer if optimizer is not None else optax.identity()
        if isinstance(metrics, (bool, np.bool_)):
            self.metrics, self.metric_names = bool(metrics), None
        else:
            self.metrics, self.metric_names = True, frozenset(metrics)
            if not all(isinstance(n, str) for n in self.metric_names):
                raise DesignerInputError("metrics", "True, False or a collection of metric names")
        samplers = [p for p in self.pieces if isinstance(p, Sampler)]
        if len(samplers) > 1:
            raise DesignerInputError("noise", "at most one sampler (minibatch or bernoulli)")
        self.sampler: Sampler | None = samplers[0] if samplers else None
        fields = [p.hyper_field for p in self.pieces if p.hyper_field]
        dup = {f for f in fields if fields.count(f) > 1}
        if dup:
            raise DesignerInputError("noise", f"two pieces use the same hyperparameter {sorted(dup)[0]!r}")
        if self.task.streaming and not isinstance(self.sampler, Minibatch):
            raise DesignerInputError("noise", f"task {self.task.name} draws fresh samples: give a minibatch piece")
        self.n_traces = 0
        # data batched per run (axis 0) or shared by every run (one copy: no per-run memory, and
        # the minibatch gather reads one small array instead of R of them)
        self._chunk_jits = {shared: jax.jit(jax.vmap(self._chunk, in_axes=(0, 0, None if shared else 0, None, None)),
                                            static_argnums=(3, 4), compiler_options=_on_cpu(self._chunk_options()))
                            for shared in (False, True)}
        once = _on_cpu(ONCE_OPTIONS)
        self._record_jits = {(shared, full): jax.jit(jax.vmap(lambda s, d, f=full: self.record(s, d, full=f),
                                                              in_axes=(0, None if shared else 0)), compiler_options=once)
                             for shared in (False, True) for full in (False, True)}
        self._data_struct = None
        prepare = self.task.prepare_metrics
        self._prepare_jits = {True: jax.jit(prepare, compiler_options=once),
                              False: jax.jit(jax.vmap(prepare), compiler_options=once)}

    def _chunk_options(self) -> dict:
        """:data:`CPU_CHUNK_OPTIONS`, with the fusion emitters for a task that asks for them."""
        if self.task.fusion_emitters:
            return {**CPU_CHUNK_OPTIONS, "xla_cpu_use_fusion_emitters": True}
        return CPU_CHUNK_OPTIONS

    @property
    def _chunk_jit(self):
        """The chunk program for per-run data (the shared-data one is ``_chunk_jits[True]``)."""
        return self._chunk_jits[False]

    def data_is_shared(self, data) -> bool:
        """True when ``data`` is one data set for all runs (``setup(share_data=True)``), False when
        every leaf has a leading run axis; decided from the task's own data shapes."""
        if self._data_struct is None:
            self._data_struct = jax.eval_shape(lambda k: self.task.generate(k, self.dtype), jax.random.PRNGKey(0))
        want = [tuple(a.shape) for a in jax.tree_util.tree_leaves(self._data_struct)]
        got = [tuple(np.shape(a)) for a in jax.tree_util.tree_leaves(data)]
        if got == want:
            return True
        if len(got) == len(want) and all(g[1:] == w for g, w in zip(got, want)):
            return False
        raise DesignerInputError("data", f"leaf shapes {got} are neither the task's {want} nor those with a leading run axis")

    # -- hyperparameters and set-up ------------------------------------------------------------
    def hyper(self, learning_rate, **overrides) -> Hyper:
        """Hyperparameters with the pieces' spec values as defaults; any field may be an array."""
        values = {f: 0.0 for f in FLOAT_FIELDS}
        values["batch_size"] = self.sampler.default() if isinstance(self.sampler, Minibatch) else 1
        for p in self.pieces:
            if p.hyper_field:
                values[p.hyper_field] = p.default()
        values["learning_rate"] = learning_rate
        unknown = set(overrides) - set(Hyper._fields)
        if unknown:
            raise DesignerInputError(f"hyper.{sorted(unknown)[0]}", f"unknown hyperparameter; one of {Hyper._fields}")
        values.update(overrides)
        if isinstance(self.sampler, Minibatch):
            b = np.asarray(values["batch_size"])
            if np.any(b > self.sampler.max_batch_size) or np.any(b < 1):
                raise DesignerInputError("hyper.batch_size", f"must be in 1..max_batch_size={self.sampler.max_batch_size}")
        return Hyper(**{f: jnp.asarray(values[f], jnp.int32 if f == "batch_size" else self.dtype) for f in Hyper._fields})

    def default_init(self, key, scale: float = 1.0):
        """Model parameters ``model.init_params(key, scale)`` plus the task's extra parameters."""
        k1, k2 = jax.random.split(key)
        params = dict(self.model.init_params(k1, scale, self.dtype))
        extra = self.task.extra_param_shapes(self.model)
        keys = jax.random.split(k2, max(len(extra), 1))
        for k, (name, shape) in zip(keys, sorted(extra.items())):
            params[name] = scale * jax.random.normal(k, shape, self.dtype)
        return params

    def init_state(self, params, key) -> State:
        """State of one run from its parameters and PRNG key."""
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, self.dtype), params)
        return State(params, self.optimizer.init(params), key, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.nan, self.dtype))

    def setup(self, seeds, hyper: Hyper, init: Callable | None = None, data_seeds=None, init_scale: float = 1.0,
              share_data: bool = False):
        """Batched initial states and data for runs ``r = 0..R-1``.

        ``seeds[r]`` seeds the run's initialization and noise; ``data_seeds[r]`` (default
        ``seeds``) its data, so a hyperparameter sweep on one data set repeats a data seed.
        ``init(key) -> params`` overrides the default initialization (``default_init`` at
        ``init_scale``). Hyper fields are broadcast to ``R``. Returns ``(state, hyper, data)``.

        ``share_data=True`` (every data seed equal) returns the data set once, without a run
        axis, and :meth:`run` hands the same copy to every run: the same numbers as per-run
        copies, without ``R`` copies in memory.
        """
        seeds = np.atleast_1d(np.asarray(seeds, np.int64))
        data_seeds = seeds if data_seeds is None else np.atleast_1d(np.asarray(data_seeds, np.int64))
        if share_data and np.any(data_seeds != data_seeds[0]):
            raise DesignerInputError("data_seeds", "share_data needs one data seed for every run")
        r = max(len(seeds), len(data_seeds), *(np.size(h) for h in hyper))
        seeds, data_seeds = np.broadcast_to(seeds, (r,)), np.broadcast_to(data_seeds, (r,))
        hyper = Hyper(*(jnp.broadcast_to(h, (r,)) for h in hyper))
        make = init if init is not None else (lambda k: self.default_init(k, init_scale))

        # one compiled program instead of many op-by-op dispatches; run once, so compiled quickly
        @partial(jax.jit, compiler_options=_on_cpu(ONCE_OPTIONS))
        def build(seeds, data_seeds):
            base = jax.vmap(jax.random.PRNGKey)(seeds)
            data_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.PRNGKey(k), 0))(data_seeds)
            data = jax.vmap(lambda k: self.task.generate(k, self.dtype))(data_keys)
            params = jax.vmap(make)(jax.vmap(lambda k: jax.random.fold_in(k, 1))(base))
            state = jax.vmap(self.init_state)(params, jax.vmap(lambda k: jax.random.fold_in(k, 2))(base))
            return state, data

        state, data = build(jnp.asarray(seeds), jnp.asarray(data_seeds[:1] if share_data else data_seeds))
        if share_data:
            data = jax.tree_util.tree_map(lambda a: a[0], data)
        return state, hyper, data

    def setup_given(self, params, data, seeds, hyper: Hyper):
        """Batched runs that all start from ``params`` on the one data set ``data``, arrays made
        elsewhere (another implementation's data and initialization, for a same-data comparison).

        ``params`` has the model's parameters (and the task's extra ones) without a run axis;
        ``data`` the leaves of the task's own ``generate`` with their shapes (floating leaves are
        cast to the simulator's dtype). ``seeds[r]`` seeds run ``r``'s noise (minibatches, label
        noise, fresh examples) exactly as in :meth:`setup`, so ``setup_given`` on what ``setup``
        made for one seed continues that run. Returns ``(state, hyper, data)``, data shared.
        """
        want = dict(self.model.param_shapes())
        want.update(self.task.extra_param_shapes(self.model))
        if set(params) != set(want):
            raise DesignerInputError("params", f"need exactly {sorted(want)}, got {sorted(params)}")
        for k, shape in want.items():
            if tuple(np.shape(params[k])) != tuple(shape):
                raise DesignerInputError(f"params.{k}", f"shape {list(np.shape(params[k]))}, the model needs {list(shape)}")

        def cast(a):
            a = jnp.asarray(a)
            return a.astype(self.dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

        data = jax.tree_util.tree_map(cast, data)
        if not self.data_is_shared(data):
            raise DesignerInputError("data", "one data set without a run axis")
        seeds = np.atleast_1d(np.asarray(seeds, np.int64))
        r = max(len(seeds), *(np.size(h) for h in hyper))
        seeds = np.broadcast_to(seeds, (r,))
        hyper = Hyper(*(jnp.broadcast_to(h, (r,)) for h in hyper))
        keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.PRNGKey(k), 2))(jnp.asarray(seeds))
        params = {k: jnp.broadcast_to(cast(v), (r, *want[k])) for k, v in params.items()}
        return jax.vmap(self.init_state)(params, keys), hyper, data

    def distribute(self, state: State, hyper: Hyper, data, devices=None):
        """Spread the runs over ``devices`` (default: all devices of the default backend).

        With one device (the default on CPU) nothing moves. With several (several GPUs, or CPU
        cores exposed as devices by :func:`designer.use_cpu_cores`, as ``designer sweep`` does),
        the run axis is split evenly across them and every chunk runs as one program on all of
        them; shared data is copied to each. Runs are independent, so the results are those of
        one device. A run count that does not divide evenly stays where it is.

        Opt-in, not done by :meth:`setup`: with CPU cores as devices, jaxlib 0.10's batched LAPACK
        kernels (an SVD in a task's metrics, batch >= 8 per device) can wait forever for a thread
        the other device holds. Use it for steps and records without LAPACK calls (the sweep's).
        """
        devices = list(jax.devices() if devices is None else devices)
        r = int(np.shape(state.step)[0])
        if len(devices) < 2 or r % len(devices):
            return state, hyper, data
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.asarray(devices), ("runs",))
        runs, everywhere = NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec())
        batched = lambda tree: jax.tree_util.tree_map(lambda a: jax.device_put(a, runs), tree)
        if self.data_is_shared(data):
            data = jax.tree_util.tree_map(lambda a: jax.device_put(a, everywhere), data)
        else:
            data = batched(data)
        return batched(state), batched(hyper), data

    # -- one step ------------------------------------------------------------------------------
    def _examples(self, key, hyper, data, ahead=None):
        """``(examples, weights, idx)``; ``idx`` is set when outputs must be gathered after the fact.

        ``ahead``: a streaming task's examples for this step, already drawn from ``key``.
        """
        task, dtype = self.task, self.dtype
        if task.streaming:
            examples = task.fresh_examples(data, key, self.sampler.max_batch_size) if ahead is None else ahead
            return examples, self.sampler.mask(hyper, dtype), None
        examples = data["train"]
        n = task.n_examples
        if self.sampler is None:
            idx, weights = None, jnp.full((n,), 1.0 / n, dtype)
        else:
            idx, weights = self.sampler.sample(key, n, hyper)
        if idx is not None:
            examples = jax.tree_util.tree_map(lambda a: a[idx], examples)
        if "weight" in examples:
            weights = weights * examples["weight"]
        late = idx if getattr(task, "gather_outputs", False) else None
        return examples, weights, late

    def step(self, state: State, hyper: Hyper, data, drawn: dict | None = None) -> tuple[State, StepInfo]:
        """One SGD step of one run (pure; the scan body).

        ``drawn``: this step's slice of what :meth:`_chunk` drew ahead: ``"pieces"``, the
        randomness of the pieces that pre-draw (``{piece index: array}``, see
        :class:`designer.simulate._noise.Piece`), and ``"examples"``, a streaming task's fresh
        examples drawn from this very step's key. What is absent is drawn here.
        """
        task, model, params = self.task, self.model, state.params
        drawn = drawn or {}
        key, k_sample, k_label, k_after = drawn["keys"] if "keys" in drawn else jax.random.split(state.key, 4)
        pieces_drawn, labels_drawn = drawn.get("pieces") or {}, drawn.get("labels") or {}
        examples, weights, late_idx = self._examples(k_sample, hyper, data, drawn.get("examples"))
        y = examples["y"]
        for i, p in enumerate(self.pieces):
            if i in pieces_drawn:
                y = p.perturb_drawn(y, pieces_drawn[i], hyper)
            elif i in labels_drawn:
                y = p.perturb_with(y, labels_drawn[i], hyper)
            else:
                y = p.perturb_targets(k_label, y, hyper)

        def data_loss(out):
            sq = (y - out) ** 2
            per = jnp.mean(sq.reshape(sq.shape[0], -1), axis=1)
            return jnp.sum(weights * per)

        def penalties(z):
            return sum((p.penalty(z, hyper) for p in self.pieces), jnp.zeros((), self.dtype))

        if isinstance(task, PredictorTask):
            z, pullback = jax.vjp(getattr(model, "sgd_predictor", model.predictor), params)
            def outputs(z):
                out = task.outputs_from_predictor(z, data, examples)
                return out if late_idx is None else out[late_idx]

            loss, gz = jax.value_and_grad(lambda z: data_loss(outputs(z)) + penalties(z))(z)
            (grads,) = pullback(gz)
        else:
            loss, grads = jax.value_and_grad(
                lambda p: data_loss(task.outputs(model, p, data, examples)) + penalties(model.predictor(p)))(params)
            gz = jnp.zeros((), self.dtype)
        for p in self.pieces:
            grads = p.transform_grad(grads, params, hyper)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, params)
        lr = hyper.learning_rate
        params = jax.tree_util.tree_map(lambda w, u: w - lr.astype(w.dtype) * u, params, updates)
        keys = jax.random.split(k_after, max(len(self.pieces), 1))
        for k, p in zip(keys, self.pieces):
            params = p.after_update(params, k, hyper)
        return State(params, opt_state, key, state.step + 1, loss.astype(self.dtype)), StepInfo(loss, gz)

    def record(self, state: State, data, full: bool = False) -> dict:
        """Metrics of one run: the task's, the model's symmetry metrics, last loss, finiteness.

        Those chosen by ``metrics`` (see the class), or all of them when ``full``.
        """
        out = {}
        if self.metrics or full:
            out.update(self.task.metrics(self.model, state.params, data))
            out.update(model_metrics(self.model, state.params))
            if self.metric_names is not None and not full:
                unknown = sorted(self.metric_names - set(out))
                if unknown:
                    raise DesignerInputError("metrics", f"unknown metric {unknown[0]!r}; {self.task.name} with "
                                             f"{getattr(self.model, 'name', 'this model')} records {sorted(out)}")
                out = {k: v for k, v in out.items() if k in self.metric_names}
        out["batch_loss"] = state.loss
        out["finite"] = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(state.params)]))
        out["step"] = state.step
        return out

    def _chunk(self, state, hyper, data, n_records: int, every: int):
        """``n_records`` record intervals of ``every`` steps each, as nested scans.

        Randomness is drawn ahead, wide, where the step would draw it narrow: the noise pieces
        with ``predraws`` once per record interval, and for a task that ``draws_ahead``, once per
        block of up to :data:`EXAMPLE_BLOCK` steps, the steps' keys, a streaming task's fresh
        examples and the label noise of the pieces that ``draws_ahead``. These come from the keys
        the steps themselves would use (the key chain does not depend on the parameters), so the
        trajectory is the one of drawing them step by step; for Fig. 3 this moved the teacher's
        forward pass and 3,072 normals per step out of the step (benchmarks/bench_simulate.py).
        """
        self.n_traces += 1  # runs only while tracing: counts compilations of the chunk

        pre = [i for i, p in enumerate(self.pieces) if p.predraws]
        block = _largest_divisor_at_most(every, EXAMPLE_BLOCK)
        ahead = self.task.draws_ahead and block >= min(MIN_EXAMPLE_BLOCK, every)
        block = block if ahead else every
        labels_ahead = [i for i, p in enumerate(self.pieces) if ahead and p.draws_ahead and i not in pre]

        def inner(s, drawn):
            return self.step(s, hyper, data, drawn)[0], None

        def draw_ahead(key):
            """The block's step keys (the splits of :meth:`step`), a streaming task's examples and
            the label noise of the pieces that draw ahead, each from the step's own key."""
            def chain(k, _):
                keys = jax.random.split(k, 4)  # next key, sample, label, after-update
                return keys[0], keys
            _, keys = jax.lax.scan(chain, key, None, length=block)
            out = {"keys": tuple(keys[:, j] for j in range(4))}
            if self.task.streaming:
                size = self.sampler.max_batch_size
                out["examples"] = jax.vmap(lambda k: self.task.fresh_examples(data, k, size))(out["keys"][1])
            if labels_ahead:
                if self.task.streaming:
                    y = out["examples"]["y"][0]
                else:
                    y = jax.eval_shape(lambda k: self._examples(k, hyper, data)[0]["y"], key)
                out["labels"] = {i: jax.vmap(lambda k, p=self.pieces[i]: p.draw(k, y.shape, y.dtype))(out["keys"][2])
                                 for i in labels_ahead}
            return out

        def blocks(s, drawn):
            if ahead:
                drawn = {**(drawn or {}), **draw_ahead(s.key)}
            return jax.lax.scan(inner, s, drawn, length=block)

        def outer(s, _):
            drawn = None
            if pre:  # one wide draw for the interval's steps, from a key the steps do not use
                k_pre, k_next = jax.random.split(s.key)
                s = s._replace(key=k_next)
                y = jax.eval_shape(lambda k: self._examples(k, hyper, data)[0]["y"], k_pre)
                keys = jax.random.split(k_pre, len(pre))
                drawn = {"pieces": {i: self.pieces[i].predraw(k, every, y.shape, y.dtype) for i, k in zip(pre, keys)}}
            if block == every:
                s, _ = blocks(s, drawn)
            else:
                per_block = None if drawn is None else jax.tree_util.tree_map(
                    lambda a: a.reshape(every // block, block, *a.shape[1:]), drawn)
                s, _ = jax.lax.scan(blocks, s, per_block, length=every // block)
            return s, self.record(s, data)

        return jax.lax.scan(outer, state, None, length=n_records)

    # -- driving ---------------------------------------------------------------------------------
    def initial_records(self, state: State, data) -> dict[str, np.ndarray]:
        """Metrics at the initial state, one per run."""
        return jax.tree_util.tree_map(np.asarray, self._record_jits[self.data_is_shared(data), False](state, data))

    def snapshot_records(self, state: State, data) -> dict[str, np.ndarray]:
        """Every metric at ``state`` (whatever ``metrics`` records during a run), one per run."""
        return jax.tree_util.tree_map(np.asarray, self._record_jits[self.data_is_shared(data), True](state, data))

    def _run_program(self, data, steps: int, every: int, records_per_chunk: int | None):
        """``(chunk program, data as the chunks take it, records per chunk, chunks)`` of a run, or
        None when it records nothing."""
        if steps < 0 or every < 1 or steps % every:
            raise DesignerInputError("steps", f"steps={steps} must be a non-negative multiple of every={every}")
        n_rec = steps // every
        if n_rec == 0:
            return None
        rpc = records_per_chunk or _largest_divisor_at_most(n_rec, math.ceil(n_rec / 20))
        if n_rec % rpc:
            raise DesignerInputError("records_per_chunk", f"{rpc} does not divide the {n_rec} records")
        shared = self.data_is_shared(data)
        if self.metrics:  # what the records can share, computed once (Task.prepare_metrics)
            data = self._prepare_jits[shared](data)
        return self._chunk_jits[shared], data, rpc, n_rec // rpc

    def compile_run(self, state: State, hyper: Hyper, data, steps: int, every: int,
                    records_per_chunk: int | None = None) -> None:
        """Compile the program that :meth:`run` with these arguments calls, without taking a step:
        another thread can compile the next run's programs
        while this one's steps run (``designer reproduce`` does; the steps use one core). A state
        of the same shapes will do (the run's start, not its end)."""
        program = self._run_program(data, steps, every, records_per_chunk)
        if program is not None:
            chunk, data, rpc, _ = program
            chunk.lower(state, hyper, data, rpc, every).compile()

    def compile_snapshot(self, state: State, data) -> None:
        """Compile :meth:`snapshot_records`'s program without running it (see :meth:`compile_run`)."""
        self._record_jits[self.data_is_shared(data), True].lower(state, data).compile()

    def run(self, state: State, hyper: Hyper, data, steps: int, every: int,
            records_per_chunk: int | None = None, on_chunk: Callable[[int], None] | None = None,
            should_cancel: Callable[[], bool] | None = None) -> Simulation:
        """Run ``steps`` steps of every run, recording metrics every ``every`` steps.

        The work is cut into chunks of ``records_per_chunk`` records (default: about 20 chunks),
        each one call of the same compiled program. Between chunks ``on_chunk(steps_done)`` is
        called and, when ``should_cancel()`` is true, :class:`designer.errors.Cancelled` is raised.
        Records are host arrays with axes (run, record, ...).
        """
        program = self._run_program(data, steps, every, records_per_chunk)
        if program is None:
            return Simulation(state, {}, np.zeros(np.shape(state.step), np.int32))
        chunk, data, rpc, n_chunks = program
        chunks = []
        for c in range(n_chunks):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled after {c * rpc * every} of {steps} steps")
            state, rec = chunk(state, hyper, data, rpc, every)
            chunks.append(jax.tree_util.tree_map(np.asarray, rec))
            if on_chunk is not None:
                on_chunk((c + 1) * rpc * every)
        records = {k: np.concatenate([ch[k] for ch in chunks], axis=1) for k in chunks[0]}
        status = np.where(records["finite"][:, -1], 0, 1).astype(np.int32)
        return Simulation(state, records, status)
