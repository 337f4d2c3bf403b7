"""``designer sweep``: where the predicted bias holds (learning rate x batch size x noise family)."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLE = """example:
  designer sweep --out sweep.json --plot sweep.png                 # 8 lrs x 4 families x 16 seeds
  designer sweep --families gaussian --batch-sizes 1,4,16 --seeds 8 --plot batch.png
  designer sweep --stationary --out stationary.json --plot stationary.png
  designer sweep --stationary --exact --z0 3 --eta 0.01 --noise student_t --scale 1 --depth 3 --plot exact.png
  designer sweep --stationary --exact --z0 0.3 --eta 0.83 --scale 0.164 --depth 3 --burn 500 --chain-steps 4000 --every 5 --run-law

The sweep trains V1's label-noise design (z = v * v, sparse regression with n=40, d=100, k=5) by
SGD with fresh label noise of each family (gaussian, student_t3 = Student-t df 3 at unit variance,
alpha_stable1.5 = symmetric alpha-stable 1.5 at scale 1/sqrt(2), clipped = Gaussian clipped at
+-1 and rescaled to unit variance) and reports per cell the median over seeds of
|z_T - z_BP| / |z_BP|, z_BP the predicted min-L1 interpolant (basis pursuit by scipy linprog).
All cells run as one batched computation (vmap over learning rates x families x batch sizes x
seeds). --stationary instead runs the stationary-law check of z = u v (KS and Wasserstein
distances to exp(-(l + R)/T), the slice-conditioned Gibbs law, and theory.md's Gamma law).
--stationary --exact compares long batched chains on the balanced slice (z = u_1 ... u_D, target
z0, loss (z - y)^2 or (z - y)^2/2, label noise of the given law and scale) with the exact
finite-step stationary law (transfer operator, no chains), the small-step law (theory.md's Gamma
law at depth 2) and the paper's law: mean, variance, KS distances and the sampling floor.
With --run-law (and anyway when a chain crosses to z < 0 at odd depth) it also computes the law of
the run: the law of exactly the recorded states (after --burn, every --every steps) of the chains
that did not diverge, on both sides of 0 (JSON "run": mean, variance, KS against every record,
fraction at z < 0, expected vs observed diverged chains).
"""


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


#: One line for ``designer --help`` (listed without importing what ``register`` needs).
HELP = "map where the predicted bias holds over learning rate, batch size and noise family"


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import _Formatter

    p = sub.add_parser(
        "sweep", help=HELP,
        description="Finite step size and non-Gaussian noise: prediction error of the label-noise bias per "
        "cell of learning rate x batch size x noise family, as one batched SGD computation, with a heat map.",
        epilog=EXAMPLE, formatter_class=_Formatter,
    )
    p.add_argument("--learning-rates", default="7.8125e-5,1.5625e-4,3.125e-4,6.25e-4,1.25e-3,2.5e-3,5e-3,1e-2",
                   help="comma-separated learning rates (default: 0.0025 * 2^-5 .. 2^2, up to the edge of stability)")
    p.add_argument("--families", default="gaussian,student_t3,alpha_stable1.5,clipped", help="noise families")
    p.add_argument("--batch-sizes", default="1", help="comma-separated batch sizes")
    p.add_argument("--seeds", type=int, default=16, help="seeds per cell")
    p.add_argument("--steps", type=int, default=100_000, help="SGD steps per run (3/5 at eta, 1/5 at eta/10, 1/5 at eta/100)")
    p.add_argument("--label-noise", type=float, default=2.0, help="label-noise scale s")
    p.add_argument("--holds-below", type=float, default=0.1, help="a cell holds when its median relative error is below this")
    p.add_argument("--stationary", action="store_true", help="run the stationary-law check instead")
    g = p.add_argument_group("exact finite-step law (--stationary --exact)")
    g.add_argument("--exact", action="store_true", help="with --stationary: chains vs the exact finite-step law")
    g.add_argument("--z0", type=float, default=3.0, help="target z0 > 0")
    g.add_argument("--eta", type=float, default=0.01, help="SGD step")
    g.add_argument("--noise", default="gaussian", help="label-noise law: gaussian, student_t, alpha_stable")
    g.add_argument("--df", type=float, default=3.0, help="Student-t degrees of freedom (> 2; unit variance)")
    g.add_argument("--alpha", type=float, default=1.5, help="alpha-stable index (1 < alpha < 2; unit scale)")
    g.add_argument("--scale", type=float, default=1.0, help="label-noise scale s (y = z0 + s xi)")
    g.add_argument("--depth", type=int, default=2, help="depth D of z = u_1 ... u_D (2..8)")
    g.add_argument("--loss", default="squared", help="squared: (z - y)^2 (the simulator's); half_squared: (z - y)^2 / 2")
    g.add_argument("--chains", type=int, default=256, help="chains (batched)")
    g.add_argument("--burn", type=int, default=2_000, help="burn-in steps")
    g.add_argument("--chain-steps", type=int, default=20_000, help="recorded steps per chain")
    g.add_argument("--every", type=int, default=10, help="record every this many steps")
    g.add_argument("--run-law", action="store_true",
                   help="also the law of the run (same burn-in, steps, record interval; both sides of 0 at odd "
                        "depth); computed anyway when a chain crosses to z < 0")
    p.add_argument("--out", default=None, help="write the JSON here instead of stdout")
    p.add_argument("--plot", default=None, help="write the heat map (or stationary histograms) PNG here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import enable_compilation_cache, use_cpu_cores
    from ..errors import DesignerInputError

    use_cpu_cores()  # before JAX starts its backend: the sweep's runs are split over the cores
    enable_compilation_cache()
    if args.stationary and args.exact:
        from ..validate import finite_step_check

        if args.chains < 4 or args.chain_steps < 100 or args.every < 1 or args.chain_steps % args.every or args.burn < 0:
            raise DesignerInputError("chains", "need chains >= 4, chain_steps >= 100 a multiple of every >= 1, burn >= 0")
        if args.chains * (args.burn + args.chain_steps) > 1e9:
            raise DesignerInputError("chains", "chains x steps above 1e9")
        result = finite_step_check(args.z0, args.eta, args.scale, args.depth, args.noise, args.df, args.alpha, args.loss,
                                   chains=args.chains, burn=args.burn, steps=args.chain_steps, every=args.every,
                                   plot=args.plot, run_law=args.run_law)
    elif args.stationary:
        from ..validate import stationary_check

        result = stationary_check(plot=args.plot)
    else:
        from ..validate import FAMILIES, sweep

        fams = [f.strip() for f in args.families.split(",") if f.strip()]
        bad = [f for f in fams if f not in FAMILIES]
        if bad or not fams:
            raise DesignerInputError("families", f"unknown {bad}; choose from {', '.join(FAMILIES)}")
        try:
            lrs = _floats(args.learning_rates)
            bss = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
        except ValueError as exc:
            raise DesignerInputError("learning_rates", str(exc)) from None
        if not lrs or min(lrs) <= 0:
            raise DesignerInputError("learning_rates", "give positive learning rates")
        if not bss or min(bss) < 1 or max(bss) > 40:
            raise DesignerInputError("batch_sizes", "batch sizes must be in 1..40 (n = 40 examples)")
        if args.seeds < 1 or args.steps < 100:
            raise DesignerInputError("steps", "need seeds >= 1 and steps >= 100")
        result = sweep(lrs, fams, bss, seeds=args.seeds, steps=args.steps, label_noise=args.label_noise,
                       holds_below=args.holds_below, plot=args.plot)
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        if not args.stationary:
            held = [c for c in result["cells"] if c["holds"]]
            print(f"{len(held)} of {len(result['cells'])} cells hold (median error < {args.holds_below})", file=sys.stderr)
    else:
        sys.stdout.write(text + "\n")
    return 0
