"""Contract test over the TARGETS registry: values against numpy closed forms, errors name the field."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer import bases
from designer.errors import DesignerInputError
from designer.targets import TARGETS, build_target, parse_target_spec

RNG = np.random.default_rng(7)
VEC = RNG.standard_normal(16) * 3.0
MAT = RNG.standard_normal((5, 4))
SV = np.linalg.svd(MAT, compute_uv=False)
TAB_POINTS = RNG.standard_normal((5, 16))
TAB_VALUES = np.arange(5.0) ** 2

#: kind -> (spec, shape, predictor, numpy reference value)
EXAMPLES = {
    "l1": ({"kind": "l1"}, (16,), VEC, np.sum(np.abs(VEC))),
    "lp": ({"kind": "lp", "p": 0.5}, (16,), VEC, np.sum(np.abs(VEC) ** 0.5)),
    "log_sum": ({"kind": "log_sum", "epsilon": 0.1}, (16,), VEC, np.sum(np.log(np.abs(VEC) + 0.1))),
    "group_l21": ({"kind": "group_l21", "sizes": [3, 5, 8]}, (16,), VEC,
                  np.linalg.norm(VEC[:3]) + np.linalg.norm(VEC[3:8]) + np.linalg.norm(VEC[8:])),
    "tv": ({"kind": "tv"}, (16,), VEC, np.sum(np.abs(np.diff(VEC)))),
    "basis_l1": ({"kind": "basis_l1", "basis": "haar"}, (16,), VEC, np.sum(np.abs(bases.analysis("haar", 16) @ VEC))),
    "nuclear": ({"kind": "nuclear"}, (5, 4), MAT, np.sum(SV)),
    "schatten": ({"kind": "schatten", "p": 0.7}, (5, 4), MAT, np.sum(SV ** 0.7)),
    "log_det": ({"kind": "log_det", "epsilon": 0.01}, (5, 4), MAT, np.sum(np.log(SV + 0.01))),
    "tabulated": ({"kind": "tabulated", "pairs": [{"z": list(p), "value": v} for p, v in zip(TAB_POINTS, TAB_VALUES)]},
                  (16,), TAB_POINTS[3], TAB_VALUES[3]),
}


def test_every_target_has_an_example():
    assert set(EXAMPLES) == set(TARGETS)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_value_matches_numpy(kind):
    spec, shape, z, expected = EXAMPLES[kind]
    target = build_target(spec, shape)
    assert target.kind == kind
    value = float(target.value(jnp.asarray(z)))
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    # jit/vmap-compatible and a pytree (knobs are leaves, so a second knob value reuses the compile)
    batched = jax.jit(jax.vmap(target.value))(jnp.stack([jnp.asarray(z)] * 3))
    np.testing.assert_allclose(np.asarray(batched), expected, rtol=1e-12)
    # JSON round trip of the spec
    assert parse_target_spec(parse_target_spec(spec).model_dump_json()) == parse_target_spec(spec)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_wrong_domain_names_shape(kind):
    spec, shape, _, _ = EXAMPLES[kind]
    if kind == "tabulated":
        pytest.skip("a tabulated target takes its domain from its points")
    wrong = (4, 4) if len(shape) == 1 else (16,)
    with pytest.raises(DesignerInputError) as err:
        build_target(spec, wrong)
    assert err.value.field == "shape"


@pytest.mark.parametrize(
    "spec, shape, field",
    [
        ({"kind": "nope"}, (8,), "target"),
        ({"kind": "lp", "p": 2.0}, (8,), "target.p"),
        ({"kind": "lp", "p": 0.0}, (8,), "target.p"),
        ({"kind": "lp", "q": 1.0}, (8,), "target.q"),
        ({"kind": "schatten", "p": 3.0}, (4, 4), "target.p"),
        ({"kind": "log_sum", "epsilon": -1.0}, (8,), "target.epsilon"),
        ({"kind": "group_l21", "group_size": 3}, (8,), "target.group_size"),
        ({"kind": "group_l21", "sizes": [3, 3]}, (8,), "target.sizes"),
        ({"kind": "group_l21"}, (8,), "target.group_size"),
        ({"kind": "basis_l1", "basis": "haar"}, (12,), "target.basis"),
        ({"kind": "basis_l1", "basis": "fourier"}, (8,), "target.basis"),
        ({"kind": "tabulated", "pairs": []}, (2,), "target.pairs"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}] * 2}, (2,), "target.pairs"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, float("nan")], "value": 2.0}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].z"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3], "value": float("inf")}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].value"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3, 4], "value": 2.0}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].z"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3], "value": 1.0}, {"z": [0, 1], "value": 1.0}]}, (2,), "target.pairs"),
    ],
)
def test_bad_target_names_the_field(spec, shape, field):
    with pytest.raises(DesignerInputError) as err:
        build_target(spec, shape)
    assert err.value.field == field, str(err.value)
