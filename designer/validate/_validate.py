"""``validate``: train a design with its mechanism by SGD and compare with a trusted solver.

Pipeline (issue 5, shared/experiments.md part B):

1. take the design's candidate (the best by default): its parameterization ``param`` and
   mechanism; the fitted scale ``a`` and strength give the regularizer ``lam R*(z)`` the design
   claims to induce (``lam = unit * a``);
2. train it with the simulator (``designer.simulate``) on the task, batched over seeds, with the
   noise its mechanism implies (see :class:`ValidationSpec`); weight decay is finished by L-BFGS on
   the same parameterization and objective so the comparison with a solver is tight;
3. solve the target-regularized problem with a trusted solver (:mod:`._solvers`): scikit-learn's
   Lasso (weight decay, L1), basis pursuit by ``linprog`` (label noise / gauge, L1: the
   zero-temperature limit is the min-L1 interpolant), cvxpy's nuclear norm (matrix product);
4. report recovery error, support precision / recall, effective rank (matrices), the distance to
   the solver's solution, and both objectives in our units.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from pydantic import ValidationError

from ..errors import DesignerInputError, NumericalFailure
from ..families import build_family
from ..simulate import Simulator, build_task
from ..targets import build_target
from . import _solvers
from ._spec import ValidationSpec

RECORDS = 20
DEFAULT_STEPS = {"weight_decay": 20_000, "label_noise": 60_000, "gauge": 60_000}


def parse_validation_spec(spec: Any, field: str = "validate") -> ValidationSpec:
    """Validate a validation spec (dict, JSON or spec object); errors name the field."""
    if isinstance(spec, ValidationSpec):
        return spec
    try:
        if isinstance(spec, (str, bytes)):
            return ValidationSpec.model_validate_json(spec)
        return ValidationSpec.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        if len(loc) > 2 and loc[0] in ("task", "noise") and err.get("type") not in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc[:1] + loc[2:] if loc[0] == "task" else loc[:2] + loc[3:]
        raise DesignerInputError(".".join([field, *loc]), err.get("msg", "invalid")) from None


def pick_candidate(design: dict, candidate: str | None = None) -> dict:
    """The design's best entry, or the candidate with id ``candidate``."""
    if not isinstance(design, dict) or "best" not in design or "candidates" not in design:
        raise DesignerInputError("design", "not a design result (expected the JSON written by 'designer design')")
    if candidate is None:
        return design["best"]
    for c in design["candidates"]:
        if c.get("id") == candidate:
            return c
    raise DesignerInputError("candidate", f"no candidate {candidate!r} in the design")


# -- the linear measurement operator of a task -------------------------------------------------------

def linear_problem(task, data: dict) -> dict:
    """The task's data loss as ``scale * |A z - y|^2`` (host arrays, float64).

    Returns ``{"kind": "vector" | "sensing" | "completion", ...}``; raises for tasks whose loss is
    not linear in the predictor.
    """
    train = {k: np.asarray(v, np.float64) for k, v in data["train"].items()}
    if task.name == "matrix_completion":
        mask = np.asarray(data["mask"], np.float64)
        return {"kind": "completion", "mask": mask, "target": train["y"].reshape(mask.shape),
                "scale": 1.0 / mask.size, "shape": mask.shape}
    if task.name == "matrix_sensing":
        return {"kind": "sensing", "a": train["x"], "y": train["y"], "scale": 1.0 / len(train["y"]),
                "shape": train["x"].shape[1:]}
    if "x" in train and train["x"].ndim == 2:
        return {"kind": "vector", "x": train["x"], "y": train["y"], "scale": 1.0 / len(train["y"]),
                "shape": (train["x"].shape[1],)}
    raise DesignerInputError("task.kind", f"task {task.name!r} has no linear measurement operator to validate against")


def data_loss(problem: dict, z: np.ndarray) -> float:
    """``scale * |A z - y|^2`` (the simulator's full-batch loss)."""
    if problem["kind"] == "completion":
        r = problem["mask"] * (z - problem["target"])
    elif problem["kind"] == "sensing":
        r = np.einsum("kij,ij->k", problem["a"], z) - problem["y"]
    else:
        r = problem["x"] @ z - problem["y"]
    return float(problem["scale"] * np.sum(r * r))


# -- training ----------------------------------------------------------------------------------------

def init_fn(family, scale: float, dtype, kind: str = "zero_product"):
    """Initial parameters (see :class:`ValidationSpec` ``init``) as ``key -> params``."""
    shapes = family.param_shapes()
    if getattr(family, "name", "") == "hadamard" and kind != "normal":
        u = jnp.full(shapes["u"], scale, dtype)
        if kind == "zero_product":
            u = u.at[-1].set(0.0)
        return lambda key: {"u": u}
    if getattr(family, "name", "") == "matrix_product":
        std = scale / math.sqrt(family.rank)
        return lambda key: family.init_params(key, std, dtype)
    return lambda key: family.init_params(key, scale, dtype)


def mechanism_setup(entry: dict, spec: ValidationSpec, strength: float | None) -> dict:
    """Noise pieces, learning rate, batch size, schedule and the claimed ``lam`` for a candidate."""
    mech = entry["mechanism"]
    mspec = entry.get("mechanism_spec") or {}
    hp = entry.get("hyperparameters") or {}
    a = float(entry.get("a") or 0.0)
    if a <= 0:
        raise DesignerInputError("design", f"candidate {entry.get('id')} has no positive scale a: nothing to validate")
    unit = None
    if strength is not None:
        unit = strength / a
    out: dict = {"mechanism": mech, "a": a}
    bs = spec.batch_size or 1
    if mech == "weight_decay":
        unit = unit if unit is not None else float(mspec.get("strength", hp.get("weight_decay")))
        out.update(noise=[{"kind": "weight_decay", "strength": unit, "mode": "coupled"}],
                   learning_rate=spec.learning_rate or 0.01, batch_size=None, schedule=spec.schedule or "constant",
                   unit=unit, lam=unit * a)
    elif mech == "label_noise":
        eta = spec.learning_rate or float(mspec.get("learning_rate", 0.01))
        if unit is not None:
            var = 4.0 * unit / eta
        else:
            var = float(mspec.get("variance", 1.0))
            unit = eta * var / 4.0
        out.update(noise=[{"kind": "minibatch", "batch_size": bs}, {"kind": "label_noise", "scale": math.sqrt(var)}],
                   learning_rate=eta, batch_size=bs, schedule=spec.schedule or "step_decay", unit=unit, lam=unit * a,
                   label_noise_variance=var)
    elif mech == "gauge":
        temp = unit if unit is not None else float(mspec.get("temperature", hp.get("temperature", 1.0)))
        s2 = float(hp.get("gradient_noise_variance", 1.0))
        eta = spec.learning_rate or 2.0 * temp * bs / s2
        out.update(noise=[{"kind": "minibatch", "batch_size": bs}], learning_rate=eta, batch_size=bs,
                   schedule=spec.schedule or "constant", unit=temp, lam=temp * a, temperature=temp,
                   relation="T = eta s^2 / (2 B)")
    else:
        raise DesignerInputError("design", f"unknown mechanism {mech!r}")
    if spec.noise is not None:
        out["noise"] = [n.model_dump(mode="json") for n in spec.noise]
        mb = [n for n in out["noise"] if n["kind"] == "minibatch"]
        out["batch_size"] = mb[0]["batch_size"] if mb else None
    return out


def _phases(steps: int, schedule: str, lr: float) -> list[tuple[int, float]]:
    if schedule == "constant":
        return [(steps, lr)]
    third = steps // 3
    return [(third, lr), (third, lr / 10), (steps - 2 * third, lr / 100)]


def _round_steps(steps: int, every: int) -> int:
    return max(every, int(math.ceil(steps / every)) * every)


def polish_weight_decay(family, params: dict, problem: dict, unit: float, max_iter: int = 20_000) -> tuple[dict, dict]:
    """L-BFGS on ``data_loss(phi(w)) + (unit/2)|w|^2`` from ``params`` (same parameterization).

    The objective is smooth, so a quasi-Newton finish converges the trained model far below the
    relative accuracy of the comparison with a solver (GD alone is slow along near-zero
    coordinates). Returns ``(params, info)``.
    """
    from scipy.optimize import minimize

    flat0, unravel = jax.flatten_util.ravel_pytree({k: jnp.asarray(v, jnp.float64) for k, v in params.items()})
    if problem["kind"] == "completion":
        mask, tgt = jnp.asarray(problem["mask"]), jnp.asarray(problem["target"])
        resid = lambda z: mask * (z - tgt)
    elif problem["kind"] == "sensing":
        a, y = jnp.asarray(problem["a"]), jnp.asarray(problem["y"])
        resid = lambda z: jnp.einsum("kij,ij->k", a, z) - y
    else:
        x, y = jnp.asarray(problem["x"]), jnp.asarray(problem["y"])
        resid = lambda z: x @ z - y
    scale = problem["scale"]

    @jax.jit
    def fun(w):
        p = unravel(w)
        r = resid(family.predictor(p))
        return scale * jnp.sum(r * r) + 0.5 * unit * jnp.sum(w * w)

    vg = jax.jit(jax.value_and_grad(fun))
    res = minimize(lambda w: tuple(np.asarray(v, np.float64) for v in vg(jnp.asarray(w))), np.asarray(flat0, np.float64),
                   jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "maxcor": 50, "ftol": 1e-16, "gtol": 1e-13})
    return unravel(jnp.asarray(res.x)), {"method": "L-BFGS-B (scipy)", "iterations": int(res.nit),
                                          "objective": float(res.fun), "gradient_norm": float(np.linalg.norm(res.jac)),
                                          "message": str(res.message)}


def train(family, task, setup: dict, steps: int, seeds: int, data_seed: int, init_scale: float, dtype, init: str = "zero_product",
          progress: Callable[[float], None] | None = None, should_cancel: Callable[[], bool] | None = None):
    """Train ``family`` on ``task`` with the setup's noise; returns ``(sim, state, data, records, status, steps)``."""
    sim = Simulator(family, task, noise=setup["noise"], dtype=dtype)
    phases = _phases(steps, setup["schedule"], setup["learning_rate"])
    hyper = sim.hyper(setup["learning_rate"])
    state, hyper, data = sim.setup(np.arange(seeds), hyper, init=init_fn(family, init_scale, sim.dtype, init),
                                   data_seeds=np.full(seeds, data_seed))
    done, total = 0, sum(n for n, _ in phases)
    records: list[dict] = []
    status = np.zeros(seeds, np.int32)
    for n, lr in phases:
        if n <= 0:
            continue
        every = max(1, n // RECORDS)
        n = _round_steps(n, every)
        h = hyper._replace(learning_rate=jnp.full_like(hyper.learning_rate, lr))
        base = done
        res = sim.run(state, h, data, n, every, should_cancel=should_cancel,
                      on_chunk=(lambda k, b=base: progress(min(1.0, (b + k) / total))) if progress else None)
        state, done = res.state, done + n
        records.append(res.records)
        status = np.maximum(status, res.status)
    recs = {k: np.concatenate([r[k] for r in records], axis=1) for k in records[0]}
    return sim, state, data, recs, status, done


# -- the regularized problem and its trusted solver ------------------------------------------------

def solve_target_problem(target_spec: dict, mechanism: str, problem: dict, lam: float) -> dict:
    """The target-regularized problem the design claims to solve, by a trusted solver.

    Weight decay: ``min data_loss + lam R*``. Label noise and gauge (noise-driven, zero-loss
    manifold): ``min R*`` subject to fitting the data. Supported: ``l1`` (Lasso / basis pursuit)
    and ``nuclear`` (cvxpy). Returns a dict with ``available: False`` and a reason otherwise.
    """
    kind = target_spec.get("kind")
    constrained = mechanism != "weight_decay"
    if kind == "l1" and problem["kind"] == "vector":
        if constrained:
            out = _solvers.basis_pursuit(problem["x"], problem["y"])
            out["problem"] = "min |z|_1 s.t. X z = y (basis pursuit: the zero-temperature limit of the noise mechanism)"
        else:
            out = _solvers.lasso(problem["x"], problem["y"], lam)
            out["problem"] = f"min (1/n)|y - X z|^2 + lam |z|_1, lam = {lam:.6g}"
        return out
    if kind == "nuclear" and problem["kind"] in ("completion", "sensing"):
        rows, cols = problem["shape"]
        kw = ({"mask": problem["mask"], "target": problem["target"]} if problem["kind"] == "completion"
              else {"a": problem["a"], "y": problem["y"]})
        out = _solvers.nuclear_norm(rows, cols, 0.0 if constrained else lam, scale=problem["scale"], **kw)
        out["problem"] = ("min |M|_* s.t. the observations are fitted" if constrained
                          else f"min data_loss(M) + lam |M|_*, lam = {lam:.6g}")
        return out
    return {"available": False, "reason": f"no trusted solver for target {kind!r} on a {problem['kind']} task "
            "(supported: l1 on vector regression, nuclear on matrix sensing / completion)"}


def _objective(target, problem: dict, z: np.ndarray, lam: float, constrained: bool) -> dict:
    r_star = float(target.value(jnp.asarray(z)))
    if constrained:
        return {"objective": r_star, "data_loss": data_loss(problem, z)}
    return {"objective": data_loss(problem, z) + lam * r_star, "data_loss": data_loss(problem, z)}


def _summ(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "per_seed": [float(x) for x in v]}


def validate(design: dict, spec: Any, *, progress: Callable[[dict], None] | None = None,
             should_cancel: Callable[[], bool] | None = None, plot: str | None = None) -> dict:
    """Train a design by SGD with its mechanism and compare with the trusted solver (module docstring).

    Args:
      design: a design result (``designer design`` JSON).
      spec: a :class:`ValidationSpec` or its dict / JSON.
      progress: called with ``{"fraction", "stage"}`` between chunks of the simulation.
      should_cancel: polled between chunks; raises :class:`designer.errors.Cancelled`.
      plot: path of a PNG (trained vs solver predictor, training curve).

    Returns a JSON-able dict (see ``designer validate --help``).
    """
    spec = parse_validation_spec(spec)
    entry = pick_candidate(design, spec.candidate)
    task = build_task(spec.task.model_dump(), "validate.task")
    shape = tuple(design.get("shape") or ())
    if tuple(task.predictor_shape or ()) != shape:
        raise DesignerInputError("validate.task", f"the task's predictor shape {list(task.predictor_shape or ())} "
                                 f"does not match the design's {list(shape)}")
    family = build_family(entry["param"], shape)
    strength = spec.strength
    setup = mechanism_setup(entry, spec, strength if strength is not None else None)
    steps = spec.steps or DEFAULT_STEPS[setup["mechanism"]]
    seeds = spec.seeds or (1 if setup["mechanism"] == "weight_decay" else 4)
    dtype = jnp.float64 if spec.float64 else jnp.float32
    report = (lambda f, stage="train": progress({"fraction": float(f), "stage": stage})) if progress else None

    sim, state, data, records, status, steps_run = train(
        family, task, setup, steps, seeds, spec.data_seed, spec.init_scale, dtype, spec.init,
        progress=(lambda f: report(0.9 * f)) if report else None, should_cancel=should_cancel)
    data0 = jax.tree_util.tree_map(lambda a: a[0], data)
    problem = linear_problem(task, data0)
    params = [jax.tree_util.tree_map(lambda a, i=i: np.asarray(a[i], np.float64), state.params) for i in range(seeds)]
    polish_info = None
    z_trained = [np.asarray(family.predictor({k: jnp.asarray(v) for k, v in p.items()}), np.float64) for p in params]
    if setup["mechanism"] == "weight_decay" and spec.polish and spec.noise is None:
        if report:
            report(0.9, "polish")
        pol = [polish_weight_decay(family, p, problem, setup["unit"]) for p in params]
        params = [p for p, _ in pol]
        polish_info = [i for _, i in pol]
    zs = [np.asarray(family.predictor({k: jnp.asarray(v) for k, v in p.items()}), np.float64) for p in params]
    # task metrics at the final (polished) parameters
    metrics_fn = jax.jit(lambda p: task.metrics(family, p, data0))
    per_seed = [jax.tree_util.tree_map(np.asarray, metrics_fn({k: jnp.asarray(v) for k, v in p.items()})) for p in params]
    scalar_keys = [k for k, v in per_seed[0].items() if np.ndim(v) == 0]
    metrics = {k: _summ([m[k] for m in per_seed]) for k in scalar_keys}

    target = build_target(design["target"], shape)
    constrained = setup["mechanism"] != "weight_decay" or spec.noise is not None
    if report:
        report(0.95, "solver")
    try:
        sol = solve_target_problem(design["target"], setup["mechanism"] if spec.noise is None else "label_noise",
                                   problem, setup["lam"])
    except _solvers.MissingSolver as exc:
        sol = {"available": False, "reason": str(exc)}
    solver_report: dict = {k: v for k, v in sol.items() if k != "z"}
    if sol.get("z") is not None:
        zsol = np.asarray(sol["z"], np.float64)
        solver_report["available"] = True
        nrm = max(float(np.linalg.norm(zsol)), 1e-300)
        dist = [float(np.linalg.norm(z - zsol)) / nrm for z in zs]
        ours = [_objective(target, problem, z, setup["lam"], constrained) for z in zs]
        theirs = _objective(target, problem, zsol, setup["lam"], constrained)
        tol = spec.support_tolerance
        sup_sol = np.abs(zsol) > tol
        solver_report.update({
            "relative_distance_sgd_only": _summ([float(np.linalg.norm(z - zsol)) / nrm for z in z_trained]),
            "objective_solver_ours_units": theirs["objective"],
            "objective_ours": _summ([o["objective"] for o in ours]),
            "objective_relative_gap": _summ([(o["objective"] - theirs["objective"]) / max(abs(theirs["objective"]), 1e-300) for o in ours]),
            "data_loss_solver": theirs["data_loss"],
            "data_loss_ours": _summ([o["data_loss"] for o in ours]),
            "relative_distance": _summ(dist),
            "support_tolerance": tol,
            "support_solver": int(sup_sol.sum()),
            "support_ours": [int((np.abs(z) > tol).sum()) for z in zs],
            "same_support": [bool(np.array_equal(np.abs(z) > tol, sup_sol)) for z in zs],
        })
        if zsol.ndim == 2:
            s = np.linalg.svd(zsol, compute_uv=False)
            p = s / max(s.sum(), 1e-300)
            solver_report["effective_rank_solver"] = float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0]))))
    if not np.all(np.isfinite(np.concatenate([z.reshape(-1) for z in zs]))):
        raise NumericalFailure("training produced non-finite parameters (learning rate too large for this task?)")
    result = {
        "design": {"id": entry.get("id"), "description": entry.get("description"), "param": entry["param"],
                   "mechanism": setup["mechanism"], "fit_error": entry.get("fit_error"), "a": setup["a"]},
        "target": design["target"],
        "task": spec.task.model_dump(mode="json"),
        "data_seed": spec.data_seed,
        "training": {
            "noise": setup["noise"], "learning_rate": setup["learning_rate"], "batch_size": setup["batch_size"],
            "schedule": setup["schedule"], "steps": steps_run, "seeds": seeds, "init": spec.init, "init_scale": spec.init_scale,
            "dtype": str(jnp.dtype(dtype)), "status": [int(s) for s in status], "unit": setup["unit"],
            "claimed_regularizer": f"{setup['lam']:.6g} * R*(z)" if not constrained else "R*(z) on the zero-loss manifold",
            **({"label_noise_variance": setup["label_noise_variance"]} if "label_noise_variance" in setup else {}),
            **({"temperature": setup["temperature"], "relation": setup["relation"]} if "temperature" in setup else {}),
            "polish": polish_info,
        },
        "metrics": metrics,
        "solver": solver_report,
        "plot": None,
    }
    if plot is not None:
        from ._plot import plot_validation

        plot_validation(result, records, zs, None if sol.get("z") is None else np.asarray(sol["z"]), plot)
        result["plot"] = str(plot)
    if report:
        report(1.0, "done")
    return result


__all__ = ["ValidationSpec", "data_loss", "linear_problem", "parse_validation_spec", "pick_candidate",
           "polish_weight_decay", "solve_target_problem", "train", "validate"]
