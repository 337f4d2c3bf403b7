"""JAX configuration helpers: float64 and the persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp


def enable_x64() -> None:
    """Turn on float64 (geometry runs in float64; simulations pick their dtype explicitly)."""
    jax.config.update("jax_enable_x64", True)


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (CLI and service).

    The directory is ``$DESIGNER_JAX_CACHE``, else ``$XDG_CACHE_HOME/designer/jax``, else
    ``~/.cache/designer/jax``. Compiled executables of every size are cached, so a second
    process that evaluates the same shapes skips XLA compilation.
    """
    if path is None:
        path = os.environ.get("DESIGNER_JAX_CACHE")
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "designer", "jax")
    cache = Path(path)
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32_unrolled(key1, key2, x1, x2):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), all rounds written out."""
    import jax.numpy as jnp
    import numpy as np

    def rotl(v, r):
        return (v << np.uint32(r)) | (v >> np.uint32(32 - r))

    ks = [key1, key2, key1 ^ key2 ^ np.uint32(0x1BD11BDA)]
    x = [x1 + ks[0], x2 + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = x[0] ^ rotl(x[1], r)
        x = [x[0] + ks[(i + 1) % 3], x[1] + ks[(i + 2) % 3] + jnp.uint32(i + 1)]
    return tuple(x)


def unroll_threefry_on_cpu() -> bool:
    """Lower JAX's threefry hash on CPU without a loop (same bits; returns whether it applied).

    JAX lowers ``threefry2x32`` on CPU as a 5-trip ``while`` loop to save compile time. In a
    simulation every step draws a few random numbers per run, and each of those loops is a dozen
    tiny kernels that XLA cannot fuse: on these machines they were half the step time of a small
    model. Written out, the hash fuses with its neighbours (benchmarks/bench_sweep.py). The bits
    are the same (tests/simulate/test_prng.py checks the Random123 known answers).
    """
    try:
        from jax.extend.random import threefry2x32_p
        from jax.interpreters import mlir

        mlir.register_lowering(threefry2x32_p, mlir.lower_fun(_threefry2x32_unrolled, multiple_results=True),
                               platform="cpu")
        return True
    except Exception:  # a JAX without these hooks keeps its own (correct, slower) lowering
        return False


def use_cpu_cores(n: int | None = None) -> int:
    """Expose the process's CPU cores as ``n`` JAX CPU devices (default: the cores it may use).

    :meth:`designer.simulate.Simulator.distribute` can then split a batch of runs across them,
    one thread each; XLA alone leaves most of a second core idle on small per-run steps. Only
    possible before JAX starts its CPU backend: ``designer sweep`` calls this first. Respects an
    explicit ``JAX_NUM_CPU_DEVICES`` / ``--xla_force_host_platform_device_count``. Returns the
    number of CPU devices requested (1 when it could not apply).

    Not for every computation: with the cores as devices, jaxlib 0.10's batched LAPACK kernels
    (e.g. an SVD over 8 or more runs per device inside the simulation loop) can wait forever for
    a thread the other device holds. See ``Simulator.distribute``.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or os.environ.get("JAX_NUM_CPU_DEVICES"):
        return 1
    if n is None:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            n = os.cpu_count() or 1
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except Exception:  # the backend is already running: keep its devices
        return 1
    return int(n)


@jax.custom_vjp
def matmul(a, b):
    """``a @ b`` (both at least 2-D) whose reverse mode multiplies only untransposed operands.

    The gradient of ``a @ b`` needs ``g b^T`` and ``a^T g``. XLA's CPU backend folds those
    transposes into the product, and it has no fast kernel for a batched product that contracts
    a leading dimension (``a^T g`` under ``vmap``, e.g. over seeds): 40-50 us per step each for
    the attention teacher-student's 16 sequences of 8 x 8 x 8, against about 10 us for the
    untransposed form. Here the transposed operand is made behind an optimisation barrier, so it
    stays a (cheap) copy and the product stays untransposed. ``b`` is either a 2-D weight shared
    by all leading dimensions of ``a`` (its gradient one product over the flattened rows) or has
    the same leading dimensions as ``a``; no other broadcasting. Under ``vmap`` each call sees
    one run's shapes. Reverse mode only (a ``custom_vjp``: ``jvp``/``jacfwd`` through it raise);
    results are those of ``a @ b``.
    """
    if a.ndim < 2 or not (b.ndim == 2 or a.shape[:-2] == b.shape[:-2]):
        raise ValueError(f"matmul takes (..., n, k) @ (k, m) or equal leading dimensions, got {a.shape} @ {b.shape}")
    return a @ b


def _matmul_fwd(a, b):
    return a @ b, (a, b)


def _matmul_bwd(res, g):
    a, b = res
    t = lambda m: jax.lax.optimization_barrier(jnp.swapaxes(m, -1, -2))
    grad_a = g @ t(b)
    if b.ndim == 2 and a.ndim > 2:  # a shared weight: one product over all rows
        grad_b = t(a.reshape(-1, a.shape[-1])) @ g.reshape(-1, g.shape[-1])
    else:
        grad_b = t(a) @ g
    # and behind a barrier too, so a transpose of the gradient (``x @ W.T``) is not folded back
    return jax.lax.optimization_barrier((grad_a, grad_b))


matmul.defvjp(_matmul_fwd, _matmul_bwd)
