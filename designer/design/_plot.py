"""PNG of a design: target vs induced bias along 1-D slices, and over the sampled predictors.

The induced bias is the autodiff engine's (``mechanism.shape`` of the design's own spec), so the
plot shows what ``designer bias`` computes for the reported design, whatever family it is.
Slices: vectors along single coefficients in the target's sampling basis; matrices along single
singular values; other predictors along their scale.
"""

from __future__ import annotations

import numpy as np

from .. import bases
from . import _scoring

#: Points per slice.
SLICE_POINTS = 40


def _slices(prob, n_points: int = SLICE_POINTS):
    """Up to three 1-D slices through the first sampled point: ``(label, x, points, xscale)``."""
    SLICE_POINTS = n_points  # noqa: N806 (the module default, or fewer for a costly engine)
    req = prob.request
    base = prob.points[0]
    out = []
    if prob.target.kind == "tabulated":
        return out
    if prob.domain == "vector":
        d = prob.shape[0]
        basis = prob.target.sampling_basis
        c0 = bases.analyze(basis, base)
        half = np.logspace(req.sampling.log10_min, req.sampling.log10_max, SLICE_POINTS // 2)
        x = np.concatenate([-half[::-1], half])  # symmetric, log-spaced: shows small magnitudes too
        for k in sorted({0, d // 2, d - 1}):
            c = np.repeat(c0[None, :], SLICE_POINTS, axis=0)
            c[:, k] = x
            label = f"coefficient {k}" + ("" if basis == "identity" else f" ({basis} basis)")
            out.append((label, x, bases.synthesize(basis, c), "symlog"))
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


def induced_values(prob, entry: dict, points: np.ndarray) -> np.ndarray:
    """The induced-bias shape (unit = 1) of a result entry at ``points``: the family's registered
    closed form where there is one (equal to the engine's, tests/geometry/test_registered_closed_forms.py),
    else the engine's."""
    family, mech = _scoring.build_pair(entry["param"], entry["mechanism"], prob.shape)
    closed = family.closed_form(entry["mechanism"])
    if closed is not None:
        from .._lazy import jax, jnp

        return np.asarray(jax.vmap(closed)(jnp.asarray(points, jnp.float64)))
    return _scoring.engine_values(family, mech, points)


def _points_per_panel(prob, entry: dict) -> int | None:
    """``None`` (every point), or the count a costly engine affords (a sum's fibre minimum per point)."""
    family, _ = _scoring.build_pair(entry["param"], entry["mechanism"], prob.shape)
    return None if family.closed_form(entry["mechanism"]) is not None else getattr(family, "engine_points", None)


def plot_design(prob, entry: dict, path) -> None:
    """Write the design's PNG: fitted target ``a R* + b`` vs induced bias (unit = 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = entry["a"], entry["b"]
    budget = _points_per_panel(prob, entry)
    slices = _slices(prob, budget or SLICE_POINTS)
    fig, axes = plt.subplots(1, len(slices) + 1, figsize=(4.2 * (len(slices) + 1), 3.8), squeeze=False)
    axes = axes[0]
    for ax, (label, x, pts, xscale) in zip(axes, slices):
        target = np.asarray(_scoring.target_values(prob.target, pts))
        induced = induced_values(prob, entry, pts)
        ax.plot(x, a * target + b, "k--", lw=2, label="target a R*(z) + b")
        ax.plot(x, induced, "C0-", lw=1.5, label="induced bias R_phi(z)")
        if xscale == "symlog":
            ax.set_xscale("symlog", linthresh=10.0 ** prob.request.sampling.log10_min)
        else:
            ax.set_xscale(xscale)
        ax.set_xlabel(label)
        ax.set_ylabel("bias (unit = 1)")
        ax.set_title(f"slice along {label}", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[-1]
    induced = induced_values(prob, entry, prob.points[:budget])
    fitted = a * prob.t[:budget] + b
    finite = np.isfinite(induced)
    lo = float(min(fitted.min(), induced[finite].min() if finite.any() else fitted.min()))
    hi = float(max(fitted.max(), induced[finite].max() if finite.any() else fitted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="exact match")
    ax.plot(fitted[finite], induced[finite], "C1.", ms=4, label="sampled predictors")
    ax.set_xlabel("target a R*(z) + b")
    ax.set_ylabel("induced bias R_phi(z)")
    ax.set_title(f"fit error {entry['fit_error']:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(f"{prob.target.kind}: {entry['description']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
