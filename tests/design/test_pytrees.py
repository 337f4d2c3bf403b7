"""Every registered class is its own pytree node: the tree structures of two different classes
never compare equal, even with the same fields (a compiled function is keyed on the structure).

jaxlib 0.10's ``register_dataclass`` nodes compare equal across classes with the same fields
(``L1()`` and ``TotalVariation()``; ``Huber(delta)`` and ``Lp(p)``), so a jitted function over a
target could, on a hash collision, run another target's executable: tv's design once fitted its
L1 candidate "exactly" and a Huber reference got another target's objective. Our registration
(``designer._lazy.register_dataclass``) names the class in the structure.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.families import build_family
from designer.targets import build_target
from tests.design.test_search import EVERY_TARGET
from tests.geometry.test_family_contract import ROWS


def _instances():
    out = [build_target(spec, tuple(shape)) for spec, shape in EVERY_TARGET.values()]
    out += [build_family(spec, shape) for _, spec, shape, _ in ROWS]
    out += [build_family(spec, shape).transform for _, spec, shape, _ in ROWS if hasattr(build_family(spec, shape), "transform")]
    return out


def test_different_classes_never_share_a_tree_structure():
    objs = _instances()
    classes = {type(o) for o in objs}
    assert len(classes) >= 25
    for a, b in itertools.combinations(objs, 2):
        if type(a) is not type(b):
            assert jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(b), (type(a), type(b))


@pytest.mark.parametrize("first, second", [({"kind": "l1"}, {"kind": "tv"}), ({"kind": "lp", "p": 0.2}, {"kind": "huber", "delta": 0.2})])
def test_one_compiled_function_keeps_the_targets_apart(first, second):
    """The pairs whose structures used to compare equal: one jitted function, each target's own values."""
    f = jax.jit(lambda t, z: t.value(z))
    z = jnp.asarray(np.random.default_rng(0).standard_normal(8))
    for spec in (first, second, first):
        t = build_target(spec, (8,))
        assert float(f(t, z)) == pytest.approx(float(t.value(z)), rel=1e-14)
    assert f._cache_size() == 2
