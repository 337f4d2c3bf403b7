"""The table transform's ``psi = G^{-1}``: safeguarded Newton (designer._monotone) against the
earlier 60-step bisection, the same table, the same custom JVP, in one process.

Times the gradient of ``sum psi(x)^2`` (what a training step through a table design computes) at
``--n`` points for the designer's table of each target, compile apart (first call) from run
(median of ``--repeats`` calls, ``block_until_ready``), and checks the two agree.

    python benchmarks/bench_table_inverse.py [--n 4000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from designer import _monotone as M  # noqa: E402


def _bisection_nonneg(b, ys, xs, ms, m_end):
    k = M._segment(xs, b)
    x0, x1 = xs[k], xs[k + 1]
    h = ys[k + 1] - ys[k]
    m0h, m1h = ms[k] * h, ms[k + 1] * h

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = M._cubic(mid, x0, x1, m0h, m1h) < b
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 60, halve, (jnp.zeros_like(b), jnp.ones_like(b)))
    return jnp.where(b > xs[-1], ys[-1] + (b - xs[-1]) / m_end, ys[k] + 0.5 * (lo + hi) * h)


@jax.custom_jvp
def bisection_inverse(x, ys, xs, ms, m_end):
    """The earlier method: bisection, once per sign."""
    x = jax.lax.stop_gradient(x)
    return jnp.where(x >= 0, _bisection_nonneg(x, ys, xs, ms, m_end), -_bisection_nonneg(-x, ys, xs, ms, m_end))


@bisection_inverse.defjvp
def _jvp(primals, tangents):
    x, ys, xs, ms, m_end = primals
    dx = tangents[0]
    y = bisection_inverse(x, ys, xs, ms, m_end)
    _, slope = jax.jvp(lambda yy: M.hermite(yy, ys, xs, ms, m_end), (y,), (jnp.ones_like(y),))
    return y, dx / slope


def tables():
    from designer.design import design

    for tgt in ({"kind": "lp", "p": 0.5}, {"kind": "lp", "p": 0.8}, {"kind": "lp", "p": 1.5}, {"kind": "elastic_net"},
                {"kind": "log_sum", "epsilon": 0.01}):
        r = design({"target": tgt, "shape": [16], "mechanisms": ["weight_decay"], "budget": 24})
        t = next(c["param"]["transform"] for c in r["candidates"] if (c["param"].get("transform") or {}).get("kind") == "table")
        ys, xs = np.asarray(t["y"]), np.asarray(t["x"])
        ms = np.asarray(t["slopes"]) if t.get("slopes") else M.pchip_slopes(ys, xs)
        name = tgt["kind"] + (f" {tgt['p']:g}" if "p" in tgt else "")
        yield name, (ys, xs, ms, M.end_slope(ys, xs, ms))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    print("| table | Newton: compile / run (ms) | bisection: compile / run (ms) | run ratio | max |difference| / |psi| |")
    print("|---|---|---|---|---|")
    for name, (ys, xs, ms, me) in tables():
        tab = tuple(jnp.asarray(a) for a in (ys, xs, ms, me))
        x = jnp.asarray(np.random.default_rng(0).uniform(-xs[-1], xs[-1], args.n))
        out = {}
        for label, inv in (("newton", M.hermite_inverse), ("bisection", bisection_inverse)):
            f = jax.jit(jax.grad(lambda v, inv=inv: jnp.sum(inv(v, *tab) ** 2)))
            t0 = time.perf_counter()
            f(x).block_until_ready()
            compile_s = time.perf_counter() - t0
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                f(x).block_until_ready()
                times.append(time.perf_counter() - t0)
            out[label] = (compile_s, float(np.median(times)), np.asarray(jax.jit(inv)(x, *tab)))
        (cn, rn, vn), (cb, rb, vb) = out["newton"], out["bisection"]
        diff = float(np.max(np.abs(vn - vb) / np.maximum(np.abs(vb), 1e-300)))
        print(f"| {name} | {1e3 * cn:.0f} / {1e3 * rn:.3f} | {1e3 * cb:.0f} / {1e3 * rb:.3f} | {rb / rn:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
