"""Symmetry metrics of a model: the paper's balance ratios, the moment map, singular values.

- balance ratios, per symmetry (the paper's diagnostics): ReLU ``|V[j, :]| / |W[j, :]|`` (Fig. 2),
  attention ``|W_Q[:, j]| / |W_K[:, j]|`` plus Frobenius and nuclear ratios of ``W_Q, W_K``
  (Fig. 3), matrix product ``|P[:, j]| / |Q[j, :]|`` (Fig. 4), Hadamard ``|u_a,i| / |u_a+1,i|``,
  scalar ``|u| / |v|``;
- ``imbalance``: the moment map of :func:`designer.geometry.moment_map` (``u^2 - v^2``,
  ``P^T P - Q Q^T`` in the symmetric basis of gl(r), ...), zero exactly on the balanced slice;
  its one-step change obeys the exact discrete identities of theory.md section 4;
- singular values and effective rank of a matrix predictor.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..families import AttentionQK, Hadamard, MatrixProduct, ReluTwoLayer, ScalarProduct
from ..families._base import Family
from ..geometry import moment_map
from .tasks.matrix import effective_rank


def _ratio(a, b):
    return a / jnp.maximum(b, jnp.finfo(b.dtype).tiny)


def balance_ratios(model, params) -> dict:
    """The paper's per-symmetry balance ratios (empty for models without a rescaling symmetry)."""
    if isinstance(model, ReluTwoLayer):
        return {"balance": _ratio(jnp.linalg.norm(params["V"], axis=1), jnp.linalg.norm(params["W"], axis=1))}
    if isinstance(model, AttentionQK):
        q, k = params["WQ"], params["WK"]
        sq, sk = jnp.linalg.svd(q, compute_uv=False), jnp.linalg.svd(k, compute_uv=False)
        return {
            "balance": _ratio(jnp.linalg.norm(q, axis=0), jnp.linalg.norm(k, axis=0)),
            "frobenius_ratio": _ratio(jnp.linalg.norm(q), jnp.linalg.norm(k)),
            "nuclear_ratio": _ratio(jnp.sum(sq), jnp.sum(sk)),
        }
    if isinstance(model, MatrixProduct):
        ws = model.factors(params)
        ratios = jnp.stack([_ratio(jnp.linalg.norm(ws[i], axis=0), jnp.linalg.norm(ws[i + 1], axis=1))
                            for i in range(len(ws) - 1)])
        return {"balance": ratios[0] if model.depth == 2 else ratios}
    if isinstance(model, Hadamard):
        u = jnp.abs(params["u"])
        r = _ratio(u[:-1], u[1:])
        return {"balance": r[0] if model.depth == 2 else r}
    if isinstance(model, ScalarProduct):
        return {"balance": _ratio(jnp.abs(params["u"]), jnp.abs(params["v"]))}
    return {}


def model_metrics(model, params) -> dict:
    """Balance ratios, moment map (families only), singular values of a matrix predictor."""
    out = dict(balance_ratios(model, params))
    if isinstance(model, Family):
        fam_params = {k: params[k] for k in model.param_shapes()}
        out["imbalance"] = moment_map(model, fam_params)
    z = model.predictor(params)
    if z.ndim == 2:
        s = jnp.linalg.svd(z, compute_uv=False)
        out["predictor_singular_values"] = s
        out["predictor_effective_rank"] = effective_rank(s)
    return out
