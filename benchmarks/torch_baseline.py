"""Eager PyTorch training loops in the style of the authors' public code (benchmark baseline only).

One Python iteration per step, ``torch.optim.SGD`` (no momentum, no weight decay), the setups of
docs/experiments.md part A. Each ``figN(steps, seed)`` trains for ``steps`` steps and returns
the wall time of the loop and a final number, so a benchmark can time the same configuration
against :mod:`designer.simulate`. Needs the benchmark extra: ``pip install torch==2.13.0``.

    python benchmarks/torch_baseline.py --fraction 0.01
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

# authors' step counts, including their longer "final accuracy" runs (experiments.md)
BATTERY_STEPS = {"fig2": 500_000, "fig3": 300_000, "fig4": 500_000, "fig5": 50_000, "fig6": 500_000}


def _timed(loop):
    t0 = time.perf_counter()
    value = loop()
    return time.perf_counter() - t0, value


def fig2(steps: int, seed: int = 0):
    """Two-layer bias-free ReLU teacher-student, fresh batch of 8 each step, lr 5e-5."""
    g = torch.Generator().manual_seed(seed)
    tw1, tw2 = torch.randn(16, 3, generator=g) * 1.5, torch.randn(1, 16, generator=g) * 1.5
    s = torch.exp(torch.linspace(-1.2, 1.2, 16))
    w1 = (torch.randn(16, 3, generator=g) * 0.05 * s[:, None]).requires_grad_()
    w2 = (torch.randn(1, 16, generator=g) * 0.05 / s[None, :]).requires_grad_()
    opt = torch.optim.SGD([w1, w2], lr=5e-5)

    def loop():
        for _ in range(steps):
            x = torch.randn(8, 3)
            with torch.no_grad():
                y = F.relu(x @ tw1.T) @ tw2.T
                y = y + 0.1 * torch.randn_like(y)
            loss = torch.mean((y - F.relu(x @ w1.T) @ w2.T) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss)

    return _timed(loop)


def fig3(steps: int, seed: int = 0):
    """Single-head attention teacher-student (scaled dot-product attention), batch 16, lr 1e-3."""
    g = torch.Generator().manual_seed(seed)
    t = [torch.randn(16, 8, generator=g) * 0.75 for _ in range(3)]
    t[0] = t[0] * (4 + 4 * abs(torch.randn(1, generator=g).item()))
    s = torch.exp(torch.linspace(-1.2, 1.2, 8))
    boost = 0.25 + abs(torch.randn(1, generator=g).item()) / 4
    wq = (torch.randn(16, 8, generator=g) * 0.1 * s * boost).requires_grad_()
    wk = (torch.randn(16, 8, generator=g) * 0.1 / s).requires_grad_()
    wv = (torch.randn(16, 8, generator=g) * 0.1).requires_grad_()
    opt = torch.optim.SGD([wq, wk, wv], lr=1e-3)
    scale = 1 / math.sqrt(8)

    def attend(x, q, k, v):
        return F.scaled_dot_product_attention(x @ q, x @ k, x @ v, scale=scale)

    def loop():
        for _ in range(steps):
            x = torch.randn(16, 8, 16)
            with torch.no_grad():
                y = attend(x, *t)
                y = y + 0.02 * torch.randn_like(y)
            loss = torch.mean((y - attend(x, wq, wk, wv)) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss)

    return _timed(loop)


def fig4(steps: int, seed: int = 0):
    """Matrix completion M = P Q, 20 x 20 rank 2, 20% observed, random half each step, lr 1e-3."""
    g = torch.Generator().manual_seed(seed)
    u = torch.linalg.qr(torch.randn(20, 2, generator=g))[0]
    v = torch.linalg.qr(torch.randn(20, 2, generator=g))[0]
    target = u @ torch.diag(torch.tensor([15.0, 5.0])) @ v.T
    observed = torch.rand(20, 20, generator=g) < 0.2
    p = (torch.randn(20, 20, generator=g) * 0.11).requires_grad_()
    q = (torch.randn(20, 20, generator=g) * 0.1).requires_grad_()
    opt = torch.optim.SGD([p, q], lr=1e-3)

    def loop():
        for _ in range(steps):
            batch = observed & (torch.rand(20, 20) < 0.5)
            loss = ((target - p @ q) * batch).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss)

    return _timed(loop)


def fig5(steps: int, seed: int = 0):
    """Cosine features, three models (plain, plain + 0.1 L1, p * q), full-batch GD, lr 1e-3."""
    g = torch.Generator().manual_seed(seed)
    k = torch.arange(64.0)
    t_train = torch.rand(32, 1, generator=g)
    x = torch.cos(2 * math.pi * t_train * k)
    w_true = torch.zeros(64)
    idx = torch.randperm(63, generator=g)[:3] + 1
    w_true[idx] = (torch.rand(3, generator=g) + 1) * (torch.randint(0, 2, (3,), generator=g) * 2 - 1)
    y = x @ w_true + 0.1 * torch.randn(32, generator=g)
    models = [
        ([(torch.randn(64, generator=g) * 1e-4).requires_grad_()], lambda ps: ps[0], 0.0),
        ([(torch.randn(64, generator=g) * 1e-4).requires_grad_()], lambda ps: ps[0], 0.1),
        ([(torch.randn(64, generator=g) * 1e-2).requires_grad_() for _ in range(2)], lambda ps: ps[0] * ps[1], 0.0),
    ]

    def loop():
        out = []
        for params, weight, l1 in models:
            opt = torch.optim.SGD(params, lr=1e-3)
            for _ in range(steps):
                w = weight(params)
                loss = F.mse_loss(x @ w, y)
                if l1 > 0:
                    loss = loss + l1 * w.abs().sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            out.append(float(loss))
        return out

    return _timed(loop)


def fig6(steps: int, seed: int = 0):
    """Piecewise-constant signal, 60 Gaussian measurements; plain (lr 1e-2) and cumsum(w1 * w2) (lr 1e-3)."""
    g = torch.Generator().manual_seed(seed)
    signal = torch.cat([torch.full((n,), v) for v, n in ((1.0, 50), (-1.5, 70), (0.5, 40), (2.0, 40))])
    a = torch.randn(60, 200, generator=g) / math.sqrt(60)
    y = a @ signal + 0.1 * torch.randn(60, generator=g)
    models = [
        ([(torch.randn(200, generator=g) * 1e-4).requires_grad_()], lambda ps: ps[0], 1e-2),
        ([(torch.randn(200, generator=g) * 0.3).requires_grad_() for _ in range(2)],
         lambda ps: torch.cumsum(ps[0] * ps[1], dim=0), 1e-3),
    ]

    def loop():
        out = []
        for params, weight, lr in models:
            opt = torch.optim.SGD(params, lr=lr)
            for _ in range(steps):
                loss = F.mse_loss(a @ weight(params), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            out.append(float(loss))
        return out

    return _timed(loop)


FIGURES = {"fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.01, help="fraction of the authors' step counts")
    args = parser.parse_args()
    total = 0.0
    for name, fn in FIGURES.items():
        steps = max(1, int(BATTERY_STEPS[name] * args.fraction))
        wall, value = fn(steps)
        total += wall
        print(f"{name}: {steps:,} steps in {wall:.2f} s -> full battery estimate {wall / args.fraction:.0f} s (last loss {value})")
    print(f"total {total:.1f} s at fraction {args.fraction}; full-battery estimate {total / args.fraction:.0f} s")
