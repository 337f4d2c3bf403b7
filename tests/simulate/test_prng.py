"""The CPU threefry lowering installed by ``designer`` (``designer._jax.unroll_threefry_on_cpu``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

import designer  # noqa: F401  (installs the lowering)
from designer._jax import unroll_threefry_on_cpu

# Known-answer tests of Threefry-2x32-20 from Random123 (kat_vectors): (key, counter, result)
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key,count,expected", KAT)
def test_threefry_known_answers(key, count, expected):
    assert unroll_threefry_on_cpu()
    out = jax.jit(threefry_2x32)(jnp.asarray(key, jnp.uint32), jnp.asarray(count, jnp.uint32))
    assert [int(v) for v in np.asarray(out)] == list(expected)


def test_lowering_is_loop_free_and_batched_draws_agree():
    """No while loop is left in a compiled draw, and vmap over keys equals one key at a time."""
    keys = jax.random.split(jax.random.PRNGKey(3), 5)
    draw = jax.jit(jax.vmap(lambda k: jax.random.normal(k, (7,))))
    assert "while" not in draw.lower(keys).compile().as_text()
    batched = np.asarray(draw(keys))
    single = np.stack([np.asarray(jax.random.normal(k, (7,))) for k in keys])
    np.testing.assert_array_equal(batched, single)
