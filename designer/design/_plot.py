"""PNG of a design: target vs induced bias along 1-D slices (singular values for matrices)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import bases
from . import _evaluate as ev

#: Points per slice.
SLICE_POINTS = 40


def _induced(prob, r: dict, points: np.ndarray) -> np.ndarray:
    """Induced-bias shape (unit = 1) of candidate ``r`` at ``points`` (closed forms)."""
    mech = ev.MECH_INDEX[r["mechanism"]]
    if r["family"] == "hadamard":
        d = prob.shape[0]
        coeffs = points @ bases.analysis(r["basis"], d).T
        w = np.sum(bases.synthesis(r["basis"], d) ** 2, axis=0)
        knob = r["knob"] if r["knob"] is not None else 1.0
        if r["mechanism"] != "label_noise":
            w = np.ones(d)
        coef = jnp.asarray(ev.mechanism_coefficients(r["mechanism"], r["depth"], d))
        return np.asarray(ev.hadamard_values(jnp.asarray(coeffs), jnp.asarray(w), coef, knob, kind=r["transform"]))
    if r["family"] == "group_hadamard":
        return np.asarray(ev.group_values(jnp.asarray(points), jnp.asarray(prob.membership), jnp.asarray(prob.group_sizes), mech))
    s = np.linalg.svd(points, compute_uv=False)
    rows, cols = (float(x) for x in prob.shape)
    return np.asarray(ev.matrix_values(jnp.asarray(s), rows, cols, float(r["depth"]), mech))


def _slices(prob):
    """Three 1-D slices through the first sampled point: ``(label, x, points, log_x)``."""
    req = prob.request
    base = prob.points[0]
    out = []
    if prob.domain == "vector":
        d = prob.shape[0]
        basis = prob.target.sampling_basis
        synth, analysis = bases.synthesis(basis, d), bases.analysis(basis, d)
        c0 = analysis @ base
        half = np.logspace(req.sampling.log10_min, req.sampling.log10_max, SLICE_POINTS // 2)
        x = np.concatenate([-half[::-1], half])  # symmetric, log-spaced: shows small magnitudes too
        for k in sorted({0, d // 2, d - 1}):
            c = np.repeat(c0[None, :], SLICE_POINTS, axis=0)
            c[:, k] = x
            label = f"coefficient {k}" + ("" if basis == "identity" else f" ({basis} basis)")
            out.append((label, x, c @ synth.T, "symlog"))
    else:
        u, s0, vt = np.linalg.svd(base, full_matrices=False)
        x = np.logspace(req.sampling.log10_min, req.sampling.log10_max, SLICE_POINTS)
        r = s0.shape[0]
        for k in sorted({0, r // 2, r - 1}):
            pts = np.empty((SLICE_POINTS, *prob.shape))
            for i, xi in enumerate(x):
                s = s0.copy()
                s[k] = xi
                pts[i] = (u * s[None, :]) @ vt
            out.append((f"singular value {k + 1} of {r}", x, pts, "log"))
    return out


def plot_design(prob, r: dict, entry: dict, path) -> None:
    """Write the design's PNG: fitted target ``a R* + b`` vs induced bias (unit = 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = r["a"], r["b"]
    tabulated = prob.target.kind == "tabulated"
    slices = [] if tabulated else _slices(prob)
    fig, axes = plt.subplots(1, len(slices) + 1, figsize=(4.2 * (len(slices) + 1), 3.8), squeeze=False)
    axes = axes[0]
    for ax, (label, x, pts, logx) in zip(axes, slices):
        target = np.asarray(ev.target_values(prob.target, jnp.asarray(pts)))
        induced = _induced(prob, r, pts)
        ax.plot(x, a * target + b, "k--", lw=2, label="target a R*(z) + b")
        ax.plot(x, induced, "C0-", lw=1.5, label="induced bias R_phi(z)")
        if logx == "symlog":
            ax.set_xscale("symlog", linthresh=10.0 ** prob.request.sampling.log10_min)
        else:
            ax.set_xscale(logx)
        ax.set_xlabel(label)
        ax.set_ylabel("bias (unit = 1)")
        ax.set_title(f"slice along {label}", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[-1]
    induced = _induced(prob, r, prob.points)
    fitted = a * prob.t + b
    lo, hi = float(min(fitted.min(), induced.min())), float(max(fitted.max(), induced.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="exact match")
    ax.plot(fitted, induced, "C1.", ms=4, label="sampled predictors")
    ax.set_xlabel("target a R*(z) + b")
    ax.set_ylabel("induced bias R_phi(z)")
    ax.set_title(f"fit error {entry['fit_error']:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(f"{prob.target.kind}: {entry['description']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
