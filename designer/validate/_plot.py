"""Figures of the validation: trained vs solver predictor, sweep heat maps, stationary laws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_validation(result: dict, records: dict, zs: list, zsol, path: str) -> None:
    """Left: recovery error along training (every seed). Right: our predictor vs the solver's."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    key = "recovery_error" if "recovery_error" in records else "train_mse"
    steps = records["step"][0]
    for r in records[key]:
        ax.semilogy(steps, np.maximum(r, 1e-300), lw=1)
    ax.set_xlabel("SGD step")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title(f"{result['design']['id']}", fontsize=8)
    ax = axes[1]
    z = np.asarray(zs[0]).reshape(-1)
    if zsol is not None:
        s = np.asarray(zsol).reshape(-1)
        ax.plot(s, z, ".", ms=4)
        lim = [min(s.min(), z.min()), max(s.max(), z.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel(f"trusted solver ({result['solver'].get('solver', '')})")
        ax.set_ylabel("trained (seed 0)")
        ax.set_title(f"relative distance {result['solver']['relative_distance']['mean']:.2g}", fontsize=9)
    else:
        ax.plot(z, ".", ms=4)
        ax.set_xlabel("coordinate")
        ax.set_ylabel("trained predictor (seed 0)")
        ax.set_title("no trusted solver for this target", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_heatmaps(panels: list[dict], path: str, title: str) -> None:
    """One heat map per panel: ``{"values" (rows, cols), "x" labels, "y" labels, "xlabel", "ylabel", "title"}``.

    Values are log10 prediction errors; NaN (diverged) cells are drawn grey and marked.
    """
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.9), squeeze=False)
    finite = np.concatenate([np.asarray(p["values"])[np.isfinite(p["values"])] for p in panels] or [np.zeros(1)])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for ax, p in zip(axes[0], panels):
        v = np.asarray(p["values"], np.float64)
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.75")
        im = ax.imshow(np.ma.masked_invalid(v), aspect="auto", origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks(range(v.shape[1]), p["x"], rotation=45, fontsize=7)
        ax.set_yticks(range(v.shape[0]), p["y"], fontsize=8)
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel(p["ylabel"])
        ax.set_title(p["title"], fontsize=9)
        for i in range(v.shape[0]):
            for j in range(v.shape[1]):
                ax.text(j, i, "div" if not np.isfinite(v[i, j]) else f"{v[i, j]:.1f}", ha="center", va="center",
                        fontsize=6, color="w" if np.isfinite(v[i, j]) and v[i, j] < (vmin + vmax) / 2 else "k")
        fig.colorbar(im, ax=ax, label=p.get("cbar", "log10 prediction error"))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_stationary(curves: list[dict], path: str) -> None:
    """Histograms of the predictor with the predicted densities, one panel per noise model."""
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.5), squeeze=False)
    for ax, c in zip(axes[0], curves):
        ax.hist(c["samples"], bins=80, density=True, color="0.75", label="SGD")
        for name, (grid, pdf) in c["densities"].items():
            ax.plot(grid, pdf, lw=1.2, label=name)
        ax.set_xlabel("predictor z")
        ax.set_ylabel("density")
        ax.set_title(c["title"], fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
