"""The paper's five experiments (docs/experiments.md part A), reproduced side by side.

``run_figure(figure, steps=..., seeds=..., out_dir=...)`` runs the authors' exact configuration of
one figure (their step count by default) with the simulator of :mod:`designer.simulate` over
several seeds at once (one ``vmap``), continues each run to a longer horizon (the authors' own
"final accuracy" horizon where they had one, a multiple of theirs otherwise), and writes
``{figure}.json`` and ``{figure}.png`` into ``out_dir``. ``horizon="authors"`` stops where the
authors' script stops and ``record_every="authors"`` records at their logging interval; with one
seed that is the authors' work, step for step.

JSON schema: ``{"figure", "config", "rows": [{"metric", "model", "authors", "ours",
"ours_spread", "ours_converged"}]}`` with one row per number in the authors' result column;
``ours`` is the mean over seeds at the authors' horizon, ``ours_spread`` the standard deviation
over seeds, ``ours_converged`` the mean at the longer horizon (null for quantities at
initialization). Seeds draw their own data, teacher and initialization (the authors' single
PyTorch seed cannot be replayed in JAX), so the comparison is of distributions, not of bits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .errors import Cancelled, DesignerInputError
from .simulate import Simulator

FIGURES = ("fig2", "fig3", "fig4", "fig5", "fig6")
DEFAULT_SEEDS = 4
RECORDS = 100  # records per run up to the authors' horizon
HORIZONS = ("longer", "authors")
#: The order ``all`` runs the figures in (each figure's numbers do not depend on it). A curve's
#: set-up and compilation hide behind the steps of the curves before it (:func:`_prepare_all`),
#: so the battery starts with a figure whose set-up is cheap and whose steps are long (Fig. 6),
#: and runs Fig. 3's long steps while the rest compiles.
ALL_ORDER = ("fig6", "fig3", "fig2", "fig4", "fig5")


@dataclasses.dataclass(frozen=True)
class Curve:
    """One trained model of a figure (one simulation, batched over seeds)."""

    name: str
    model: dict
    task: dict
    noise: tuple
    learning_rate: float
    init: Callable  # (simulator, key) -> params
    init_note: str


@dataclasses.dataclass(frozen=True)
class Row:
    """One number of the authors' result column and how to compute ours from a snapshot."""

    metric: str
    model: str
    authors: float
    at: str  # "start" (initialization) or "end"
    value: Callable[[dict], np.ndarray]  # records at one snapshot, (seeds, ...) -> (seeds,)


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str
    title: str
    steps: int
    converged_steps: int
    converged_note: str
    curves: tuple
    rows: tuple
    authors_total: int  # every step the authors' script takes (their final-accuracy run included)
    authors_every: int  # the authors' logging interval up to ``steps``
    logged: tuple  # the metrics recorded at every record (the plot's curves); rows read snapshots


# -- initializations (the authors' scripts) ---------------------------------------------------------

def _unbalance_scales(n, log_scale=1.2, dtype=jnp.float32):
    return jnp.exp(jnp.linspace(-log_scale, log_scale, n)).astype(dtype)


def _init_relu(sim, key):
    p = sim.default_init(key, 0.05)
    s = _unbalance_scales(p["W"].shape[0], dtype=sim.dtype)
    return {"W": p["W"] * s[:, None], "V": p["V"] / s[:, None]}


def _init_attention(sim, key):
    k1, k2 = jax.random.split(key)
    p = sim.default_init(k1, 0.1)
    s = _unbalance_scales(p["WQ"].shape[1], dtype=sim.dtype)
    boost = 0.25 + jnp.abs(jax.random.normal(k2, (), sim.dtype)) / 4
    return {"WQ": p["WQ"] * s[None, :] * boost, "WK": p["WK"] / s[None, :], "WV": p["WV"]}


def _init_matrix(sim, key):
    k1, k2 = jax.random.split(key)
    shapes = sim.model.param_shapes()
    return {"W1": 0.11 * jax.random.normal(k1, shapes["W1"], sim.dtype),
            "W2": 0.1 * jax.random.normal(k2, shapes["W2"], sim.dtype)}


def _init_normal(scale):
    return lambda sim, key: sim.default_init(key, scale)


# -- row helpers -----------------------------------------------------------------------------------

def _bal(fn):
    return lambda r: fn(r["balance"].reshape(r["balance"].shape[0], -1))


_min = _bal(lambda b: b.min(axis=1))
_max = _bal(lambda b: b.max(axis=1))
_mean_abs_log = _bal(lambda b: np.abs(np.log(b)).mean(axis=1))


def _field(name):
    return lambda r: np.asarray(r[name], np.float64)


def _mode_energy(i):
    return lambda r: 2.0 * r["predictor_singular_values"][:, i]


def _fig2():
    curve = Curve("student", {"family": "relu_two_layer", "hidden": 16, "inputs": 3},
                  {"kind": "relu_teacher", "inputs": 3, "teacher_hidden": 16, "teacher_std": 1.5, "eval_size": 800},
                  ({"kind": "minibatch", "batch_size": 8}, {"kind": "label_noise", "scale": 0.1}), 5e-5, _init_relu,
                  "N(0, 0.05^2), row j of W times s_j, V_j / s_j, s = exp(linspace(-1.2, 1.2, 16))")
    rows = (
        Row("balance_min", "student", 0.002, "start", _min), Row("balance_max", "student", 3.6, "start", _max),
        Row("balance_min", "student", 0.94, "end", _min), Row("balance_max", "student", 1.005, "end", _max),
        Row("mean_abs_log_balance", "student", 2.02, "start", _mean_abs_log),
        Row("mean_abs_log_balance", "student", 0.013, "end", _mean_abs_log),
        Row("train_mse", "student", 1.0, "end", _field("train_mse")),
    )
    return Figure("fig2", "Two-layer ReLU teacher-student: |v_j| / |W[j,:]|", 40_000, 500_000,
                  "500,000 steps (the authors' final-accuracy horizon)", (curve,), rows, 500_000, 10,
                  ("balance", "train_mse"))


def _fig3():
    curve = Curve("student", {"family": "attention_qk", "d_emb": 16, "d_head": 8},
                  {"kind": "attention_teacher", "d_emb": 16, "d_head": 8, "seq": 8, "teacher_std": 0.75},
                  ({"kind": "minibatch", "batch_size": 16}, {"kind": "label_noise", "scale": 0.02}), 1e-3,
                  _init_attention, "N(0, 0.1^2), W_Q[:,j] * s_j, W_K[:,j] / s_j, W_Q * (1/4 + |N|/4)")
    rows = (
        Row("balance_min", "student", 0.037, "start", _min), Row("balance_max", "student", 5.3, "start", _max),
        Row("balance_min", "student", 0.935, "end", _min), Row("balance_max", "student", 1.012, "end", _max),
        Row("frobenius_ratio", "student", 0.379, "start", _field("frobenius_ratio")),
        Row("frobenius_ratio", "student", 0.983, "end", _field("frobenius_ratio")),
        Row("nuclear_ratio", "student", 0.367, "start", _field("nuclear_ratio")),
        Row("nuclear_ratio", "student", 0.982, "end", _field("nuclear_ratio")),
    )
    return Figure("fig3", "Single-head attention: |W_Q[:,j]| / |W_K[:,j]|", 50_000, 300_000,
                  "300,000 steps (the authors' final-accuracy horizon)", (curve,), rows, 300_000, 100,
                  ("balance", "frobenius_ratio", "nuclear_ratio"))


def _fig4():
    curve = Curve("PQ", {"family": "matrix_product", "rank": 20},
                  {"kind": "matrix_completion", "rows": 20, "cols": 20, "singular_values": [15.0, 5.0], "observed": 0.2},
                  ({"kind": "bernoulli", "fraction": 0.5, "normalize": "all"},), 1e-3, _init_matrix,
                  "P ~ N(0, 0.11^2), Q ~ N(0, 0.1^2), 20 x 20 each")
    rows = tuple(Row(f"mode_energy_{i + 1}", "PQ", a, "end", _mode_energy(i))
                 for i, a in enumerate((14.87, 4.03, 3.24, 2.19, 1.61))) + (
        Row("balance_min", "PQ", 0.93, "end", _min), Row("balance_max", "PQ", 1.25, "end", _max),
        Row("final_loss", "PQ", 7e-4, "end", _field("batch_loss")),
    )
    return Figure("fig4", "Matrix completion M = P Q: 2 x singular values (the authors' mode energies)",
                  500_000, 2_000_000, "2,000,000 steps (4x the authors')", (curve,), rows, 500_000, 1000,
                  ("balance", "predictor_singular_values"))


def _fig5():
    task = {"kind": "cosine_sparse", "modes": 64, "nonzero": 3, "n_train": 32, "n_test": 10_000, "noise": 0.1}
    curves = (
        Curve("plain", {"family": "plain"}, task, (), 1e-3, _init_normal(1e-4), "w ~ N(0, 1e-4^2)"),
        Curve("plain_l1", {"family": "plain"}, task, ({"kind": "l1_penalty", "strength": 0.1},), 1e-3,
              _init_normal(1e-4), "w ~ N(0, 1e-4^2), loss + 0.1 |w|_1"),
        Curve("designed", {"family": "hadamard", "depth": 2}, task, (), 1e-3, _init_normal(1e-2),
              "w = p * q, p, q ~ N(0, 1e-4) (std 1e-2 each, Var(p q) = 1e-8 as the authors')"),
    )
    above = _field("n_above")
    rows = tuple(Row("test_mse", m, a, "end", _field("test_mse")) for m, a in
                 (("plain", 2.52), ("plain_l1", 0.053), ("designed", 0.023))) + tuple(
        Row("n_coef_above_0.05", m, a, "end", above) for m, a in (("plain", 56), ("plain_l1", 3), ("designed", 5)))
    return Figure("fig5", "Sparse spectrum on cosine features: coefficients", 50_000, 500_000,
                  "500,000 steps (10x the authors')", curves, rows, 50_000, 1, ("test_mse",))


def _fig6():
    task = {"kind": "piecewise_constant", "m": 60, "noise": 0.1}
    curves = (
        Curve("plain", {"family": "plain"}, task, (), 1e-2, _init_normal(1e-4), "w ~ N(0, 1e-4^2), lr 1e-2"),
        Curve("designed", {"family": "hadamard", "depth": 2, "basis": "cumsum"}, task, (), 1e-3,
              _init_normal(0.3), "w = cumsum(w1 * w2), w1, w2 ~ N(0, 0.3^2), lr 1e-3"),
    )
    rows = tuple(Row(metric, m, a, "end", _field(key)) for metric, key, vals in (
        ("recon_mse", "recon_mse", (1.389, 0.080)), ("tv", "tv", (129.6, 23.4)), ("fit_mse", "fit_mse", (3.8e-9, 8.5e-7)))
        for m, a in zip(("plain", "designed"), vals))
    return Figure("fig6", "Piecewise-constant signal: w = cumsum(w1 * w2)", 500_000, 2_000_000,
                  "2,000,000 steps (4x the authors')", curves, rows, 500_000, 1, ("recon_mse",))


_BUILDERS = {"fig2": _fig2, "fig3": _fig3, "fig4": _fig4, "fig5": _fig5, "fig6": _fig6}


def figure_spec(figure: str) -> Figure:
    """The configuration of one figure (authors' setup from docs/experiments.md)."""
    if figure not in _BUILDERS:
        raise DesignerInputError("figure", f"unknown figure {figure!r}; one of {', '.join(FIGURES)} or all")
    return _BUILDERS[figure]()


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return next(d for d in range(max(1, min(n, cap)), 0, -1) if n % d == 0)


def _horizons(fig: Figure, steps: int | None, horizon: str = "longer",
              record_every: int | str | None = None) -> tuple[int, int, int, int]:
    """``(main, conv, every, every_after)``: steps at the authors' horizon, steps in all, the record
    interval up to ``main`` and the one from ``main`` to ``conv``.

    ``horizon="longer"`` continues to ``fig.converged_steps`` (scaled with ``steps``), ``"authors"``
    stops where the authors' script stops (``fig.authors_total``, their final-accuracy run included).
    ``record_every=None`` records about :data:`RECORDS` times up to ``main`` and at the same interval
    after; an integer, or ``"authors"`` for the authors' interval (``fig.authors_every``), records at
    that interval up to ``main`` and about :data:`RECORDS` times after it (the authors log nothing
    after their plotting horizon).
    """
    if horizon not in HORIZONS:
        raise DesignerInputError("horizon", f"one of {', '.join(HORIZONS)}, got {horizon!r}")
    main = fig.steps if steps is None else int(steps)
    if main < 1:
        raise DesignerInputError("steps", f"must be >= 1, got {main}")
    target = fig.authors_total if horizon == "authors" else fig.converged_steps
    if record_every is None:
        every = main // _largest_divisor_at_most(main, RECORDS)
        conv = max(main, round(main * target / fig.steps / every) * every)
        return main, conv, every, every
    if record_every == "authors":
        every = _largest_divisor_at_most(main, fig.authors_every)
    else:
        try:
            every = int(record_every)
        except (TypeError, ValueError):
            raise DesignerInputError("record_every", f"a positive integer or 'authors', got {record_every!r}") from None
        if every < 1 or main % every:
            raise DesignerInputError("record_every", f"must be >= 1 and divide the {main:,} steps, got {every}")
    conv = max(main, round(main * target / fig.steps))
    rest = conv - main
    every_after = rest // _largest_divisor_at_most(rest, RECORDS) if rest else every
    return main, conv, every, every_after


# -- running -------------------------------------------------------------------------------------

#: The second phase records at the first phase's interval, and keeps every k-th record, when its
#: interval is a multiple of the first's and that is at most this many records: one compiled
#: program for both phases instead of two (Fig. 3 at the authors' cadence: 2,500 records instead
#: of 100 over 250,000 steps, about 1 us per step or 0.3 s in all; the program it saves took 1.6 s
#: of CPU to compile while the first 50,000 steps ran).
SHARED_PROGRAM_RECORDS = 5000


def _phases(main, conv, every, every_after):
    """``(records per chunk or None, the second phase's record interval, the stride of the
    records it keeps)``: one compiled program serves both phases when they record at the same
    interval, or when the second phase can record at the first's and keep every ``stride``-th
    record (:data:`SHARED_PROGRAM_RECORDS`)."""
    n_main, n_rest = main // every, (conv - main) // every
    stride = every_after // every if every_after % every == 0 else 0
    if stride and (stride == 1 or n_rest <= SHARED_PROGRAM_RECORDS):
        per_chunk = _largest_divisor_at_most(math.gcd(n_main, n_rest), math.ceil((n_main + n_rest) / 20))
        return per_chunk, every, stride
    return None, every_after, 1


def _prepare_curve(fig, curve, main, every, per_chunk, seeds):
    """A curve's simulator, initial state and data, with its first phase's chunk program compiled
    (run on the preparing thread, see :func:`_prepare_all`)."""
    sim = Simulator(curve.model, curve.task, noise=curve.noise, metrics=fig.logged)
    state, hyper, data = sim.setup(np.arange(seeds), sim.hyper(curve.learning_rate),
                                   init=lambda k, c=curve, s=sim: c.init(s, k))
    sim.compile_run(state, hyper, data, main, every, per_chunk)
    return sim, state, hyper, data


def _prepare_rest(prepared, n, every, per_chunk, compile_chunk):
    """The snapshot program and, unless the first phase's serves, the second phase's chunk program."""
    sim, state, hyper, data = prepared.result()
    sim.compile_snapshot(state, data)
    if compile_chunk:
        sim.compile_run(state, hyper, data, n, every, per_chunk)


def _prepare_all(pool, plans, seeds):
    """Submit, in the order they run, every curve's set-up and compilations to ``pool`` (one
    thread): while the steps of one curve run (mostly on one core: the chunk programs use
    single-threaded Eigen on CPU), the next programs compile on the other. ``{(figure, curve): (set-up
    future, second-phase future)}``."""
    jobs = {}
    for fig, main, conv, every, every_after in plans:
        per_chunk, every_2, _ = _phases(main, conv, every, every_after)
        for curve in fig.curves:
            first = pool.submit(_prepare_curve, fig, curve, main, every, per_chunk, seeds)
            second = pool.submit(_prepare_rest, first, conv - main, every_2, per_chunk, every_2 != every)
            jobs[fig.name, curve.name] = (first, second)
    return jobs


def _run_curves(fig, main, conv, every, every_after, jobs, report, should_cancel):
    """Train every curve of ``fig`` to ``main`` and on to ``conv``; the records hold the metrics the
    plot draws (``fig.logged``), every metric is taken at the start, at ``main`` and at ``conv``."""
    out = {}
    per_chunk, every_2, stride = _phases(main, conv, every, every_after)
    for curve in fig.curves:
        first, second = jobs[fig.name, curve.name]
        sim, state, hyper, data = first.result()
        initial = state
        t0 = time.perf_counter()
        parts, snaps = [], []
        for n, ev, before in ((main, every, 0), (conv - main, every_2, main)):
            if before:  # the snapshot program (and the second phase's) compiled beside the first phase
                second.result()
                start = sim.snapshot_records(initial, data)
                snaps.append(sim.snapshot_records(state, data))
            if n:
                res = sim.run(state, hyper, data, n, ev, records_per_chunk=per_chunk, should_cancel=should_cancel,
                              on_chunk=lambda done, c=curve.name, b=before: report(c, b + done))
                state = res.state
                records = res.records
                if before and stride > 1:  # recorded at the first phase's interval
                    records = {k: v[:, stride - 1::stride] for k, v in records.items()}
                parts.append(records)
        snaps.append(sim.snapshot_records(state, data))
        records = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
        status = np.where(records["finite"][:, -1], 0, 1).astype(np.int32)
        wall = time.perf_counter() - t0
        first_run = jax.tree_util.tree_map(lambda a: a[0], state.params)
        out[curve.name] = {"start": start, "records": records, "status": status, "main": snaps[0], "conv": snaps[1],
                           "wall_s": wall, "final_predictor": np.asarray(sim.model.predictor(first_run))}
        if "truth" in data:
            out["_truth"] = np.asarray(data["truth"][0])
    return out


def _stats(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, np.float64)
    return float(np.mean(v)), float(np.std(v))


def _rows(fig: Figure, results: dict) -> list[dict]:
    rows = []
    for row in fig.rows:
        res = results[row.model]
        if row.at == "start":
            ours, spread = _stats(row.value(res["start"]))
            conv = None
        else:
            ours, spread = _stats(row.value(res["main"]))
            conv = _stats(row.value(res["conv"]))[0]
        metric = row.metric + ("_start" if row.at == "start" else "")
        rows.append({"metric": metric, "model": row.model, "authors": row.authors, "ours": ours,
                     "ours_spread": spread, "ours_converged": conv})
    return rows


#: Points per plotted curve at most: the authors' cadence records Fig. 6's 500,000 steps one by
#: one, and drawing every record took most of the 13 s of the battery's five plots.
PLOT_POINTS = 1000


def _thin(n: int, log: bool) -> np.ndarray:
    """Indices of at most :data:`PLOT_POINTS` of ``n`` records, the first and last included; evenly
    spaced, or in log spacing of the record number for a log-scaled step axis."""
    if n <= PLOT_POINTS:
        return np.arange(n)
    grid = np.geomspace(1, n, PLOT_POINTS) - 1 if log else np.linspace(0, n - 1, PLOT_POINTS)
    return np.unique(np.round(grid).astype(int))


def _import_plotting() -> None:
    """Import what :func:`_plot` draws with (about 0.4 s of a fresh process)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def _plot(fig: Figure, results: dict, main: int, conv: int, path: Path) -> None:
    from matplotlib.figure import Figure as PlotFigure  # no pyplot: drawn on a worker thread

    figure = PlotFigure(figsize=(12, 4.2), constrained_layout=True)
    axes = figure.subplots(1, 2)
    ax, ax2 = axes
    first = results[fig.curves[0].name]
    pick = _thin(len(first["records"]["step"][0]), log=fig.name not in ("fig2", "fig3", "fig4"))
    first = {"records": {k: v[:, pick] for k, v in first["records"].items()}}
    steps = first["records"]["step"][0]
    if fig.name in ("fig2", "fig3", "fig4"):
        bal = first["records"]["balance"][0]
        ax.semilogy(steps, bal.reshape(len(steps), -1), lw=1)
        ax.axhline(1.0, color="k", ls="--", lw=1)
        ax.axvline(main, color="gray", ls=":", lw=1)
        ax.set_title("balance ratios (seed 0); dotted: authors' horizon")
        ax.set_xlabel("SGD step")
        if fig.name == "fig4":
            sv = 2 * first["records"]["predictor_singular_values"][0]
            ax2.semilogy(steps, sv[:, :6], lw=1.2)
            for v in (14.87, 4.03):
                ax2.axhline(v, color="k", ls="--", lw=0.8)
            ax2.set_title("2 x singular values of PQ (seed 0); dashed: authors")
        elif fig.name == "fig3":
            ax2.plot(steps, first["records"]["frobenius_ratio"][0], label="Frobenius ratio")
            ax2.plot(steps, first["records"]["nuclear_ratio"][0], label="nuclear ratio")
            ax2.axhline(1.0, color="k", ls="--", lw=1)
            ax2.legend()
            ax2.set_title("|W_Q| / |W_K| (seed 0)")
        else:
            ax2.semilogy(steps, first["records"]["train_mse"][0])
            ax2.set_title("train MSE, clean evaluation set (seed 0)")
        ax2.axvline(main, color="gray", ls=":", lw=1)
        ax2.set_xlabel("SGD step")
    else:
        key = "test_mse" if fig.name == "fig5" else "recon_mse"
        for c in fig.curves:
            r = results[c.name]["records"]
            ax.loglog(r["step"][0][pick], r[key][0][pick], label=c.name)
        ax.axvline(main, color="gray", ls=":", lw=1)
        ax.set_title(f"{key} (seed 0); dotted: authors' horizon")
        ax.set_xlabel("step")
        ax.legend()
        fin = {c.name: results[c.name]["final_predictor"] for c in fig.curves}
        truth = results["_truth"]
        if fig.name == "fig5":
            k = np.arange(truth.shape[0])
            ax2.plot(k, truth, "ko", label="true")
            for i, (n, w) in enumerate(fin.items()):
                ax2.plot(k + 0.15 * (i + 1), w, ".", label=n)
            ax2.set_xlabel("frequency k")
        else:
            ax2.plot(truth, "k", lw=2, label="true")
            for n, w in fin.items():
                ax2.plot(w, lw=1, label=n)
            ax2.set_xlabel("index")
        ax2.set_title(f"predictor at {conv:,} steps (seed 0)")
        ax2.legend()
    figure.suptitle(f"{fig.name}: {fig.title}")
    figure.savefig(path, dpi=110)


def run_figure(figure: str, *, steps: int | None = None, seeds: int | None = None, out_dir,
               horizon: str = "longer", record_every: int | str | None = None,
               progress: Callable[[float, str], None] | None = None,
               should_cancel: Callable[[], bool] | None = None) -> dict:
    """Reproduce one figure (or ``"all"``) and write ``{figure}.json`` and ``{figure}.png``.

    Args:
        figure: ``fig2`` .. ``fig6`` or ``all``.
        steps: steps at the authors' horizon (default: theirs); the longer horizon scales with it.
        seeds: number of seeds, run as one batched computation (default 4).
        horizon: ``"longer"`` (default) continues past the authors' horizon (their final-accuracy
            horizon where they had one, a multiple of theirs otherwise); ``"authors"`` stops where
            the authors' script stops.
        record_every: record interval up to the authors' horizon: ``None`` (default, about 100
            records), an integer dividing the steps, or ``"authors"`` (their logging interval).
            ``horizon="authors", record_every="authors", seeds=1`` is the authors' work.
        out_dir: directory for the outputs (created).
        progress: called as ``progress(fraction, stage)`` between chunks.
        should_cancel: polled between chunks; when true, :class:`designer.errors.Cancelled` is raised.

    Returns:
        The JSON document (for ``all``: ``{"figure": "all", "figures": {name: document}}``).
    """
    seeds = DEFAULT_SEEDS if seeds is None else int(seeds)
    if seeds < 1:
        raise DesignerInputError("seeds", f"must be >= 1, got {seeds}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(ALL_ORDER) if figure == "all" else [figure]
    figs = [figure_spec(n) for n in names]
    plans = [(f, *_horizons(f, steps, horizon, record_every)) for f in figs]
    total = sum(conv * len(f.curves) for f, _, conv, _, _ in plans)
    done_before = 0
    docs = {}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reproduce-compile")
    plotter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reproduce-plot")  # beside the next steps
    plots = []
    try:
        jobs = _prepare_all(pool, plans, seeds)
        plots.append(pool.submit(_import_plotting))  # after the compilations, while the steps run
        for plan in plans:
            done_before = _run_figure_plan(plan, jobs, seeds, horizon, out, docs, done_before, total, progress,
                                           should_cancel, plotter, plots)
        for p in plots:
            p.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        plotter.shutdown(wait=True, cancel_futures=True)
    if progress is not None:
        progress(1.0, "done")
    return docs[figure] if figure != "all" else {"figure": "all", "figures": docs}


def _run_figure_plan(plan, jobs, seeds, horizon, out, docs, done_before, total, progress, should_cancel,
                     plotter, plots):
    """Run one figure of :func:`run_figure`, write its JSON into ``out`` and ``docs`` and have
    ``plotter`` draw its PNG (its future appended to ``plots``); returns the steps done so far."""
    fig, main, conv, every, every_after = plan
    def report(curve_name, done, base=done_before, f=fig, c=conv):
        if progress is not None:
            idx = [cv.name for cv in f.curves].index(curve_name)
            progress((base + idx * c + done) / total, f"{f.name}:{curve_name} {done:,}/{c:,} steps")

    if progress is not None:
        progress(done_before / total, f"{fig.name}: compiling")
    results = _run_curves(fig, main, conv, every, every_after, jobs, report, should_cancel)
    done_before += conv * len(fig.curves)
    doc = {
        "figure": fig.name,
        "config": {
            "title": fig.title, "steps": main, "converged_steps": conv, "converged_note": fig.converged_note,
            "authors_steps": fig.steps, "authors_total_steps": fig.authors_total, "horizon": horizon,
            "seeds": seeds, "record_every": every, "record_every_after": every_after, "dtype": "float32",
            "spread": "standard deviation over seeds",
            "curves": [{"model": c.name, "parameterization": c.model, "task": c.task, "noise": list(c.noise),
                        "learning_rate": c.learning_rate, "init": c.init_note,
                        "status": [int(s) for s in results[c.name]["status"]],
                        "wall_s": round(results[c.name]["wall_s"], 3)} for c in fig.curves],
        },
        "rows": _rows(fig, results),
    }
    (out / f"{fig.name}.json").write_text(json.dumps(doc, indent=2))
    plots.append(plotter.submit(_plot, fig, results, main, conv, out / f"{fig.name}.png"))
    docs[fig.name] = doc
    return done_before
