"""The bias explorer's plot: a PNG drawn with matplotlib's object API (no pyplot state, thread-safe)."""

from __future__ import annotations

import base64
import io
import math
from typing import Any


def bias_png(where: dict[str, Any], values: list[float | None], title: str) -> str:
    """A ``data:image/png`` URL: R along the slice, or R over the grid as an image with contours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    axis = where["axis"]
    nan = float("nan")
    vals = [nan if v is None or not math.isfinite(v) else v for v in values]
    if where["mode"] == "slice":
        ax.plot(axis, vals, color="#1f5fa8", linewidth=2)
        ax.set_xlabel(f"z[{where['i']}]")
        ax.set_ylabel("R(z)")
        ax.grid(True, alpha=0.3)
    else:
        n = len(axis)
        grid = [vals[r * n:(r + 1) * n] for r in range(n)]
        image = ax.imshow(grid, origin="lower", extent=(axis[0], axis[-1], axis[0], axis[-1]), aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax, label="R(z)")
        if any(math.isfinite(v) for v in vals):
            try:
                ax.contour(axis, axis, grid, colors="white", linewidths=0.6, levels=8)
            except (ValueError, TypeError):  # flat or singular surfaces have no contours
                pass
        ax.set_xlabel(f"z[{where['i']}]")
        ax.set_ylabel(f"z[{where['j']}]")
    ax.set_title(f"induced bias: {title}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
