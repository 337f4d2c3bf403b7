"""The inverse designer finds the theory's oracles (theory.md sections 3 and 5), honestly.

Oracles: Hadamard depth 2 + weight decay = L1 exactly; depth 3 + weight decay = l_{2/3};
M = P Q + weight decay = nuclear norm; gauge on products = log.
"""

import json

import numpy as np
import pytest

from designer.bias import evaluate_points
from designer.design import DesignCancelled, design
from designer.design import _scoring
from designer.design._search import build_problem
from designer.design._request import parse_design_request
from designer.errors import DesignerInputError


def run(target, shape, **kw):
    return design({"target": target, "shape": list(shape), **kw})


@pytest.fixture(scope="module")
def l1_result():
    return run({"kind": "l1"}, [64])


def test_l1_depth2_hadamard_exact(l1_result):
    best = l1_result["best"]
    assert best["family"] == "hadamard" and best["depth"] == 2 and best["basis"] == "identity"
    assert best["transform"] == "identity"
    assert best["mechanism"] in ("weight_decay", "label_noise")
    assert best["fit_error"] < 1e-6
    assert l1_result["exact"]
    # ranked, both exact mechanisms at the top
    assert {c["mechanism"] for c in l1_result["candidates"][:2]} == {"weight_decay", "label_noise"}
    errors = [c["fit_error"] for c in l1_result["candidates"] if c["fit_error"] is not None]
    assert errors[0] <= min(errors) * (1 + 1e-3) + 1e-9


def test_l1_design_reproduces_strength_in_designer_bias(l1_result):
    """The spec 'designer bias' accepts, at the mapped strength, gives strength * R*(z) + const."""
    best = l1_result["best"]
    pts = np.random.default_rng(1).standard_normal((5, 64)) * 10
    values = np.asarray(evaluate_points(best["param"], best["mechanism_spec"], pts.tolist())["values"])
    np.testing.assert_allclose(values, 1.0 * np.abs(pts).sum(axis=1), rtol=1e-10)
    assert best["hyperparameters"]["weight_decay"] == pytest.approx(1.0, rel=1e-10)


def test_lp_two_thirds_depth3_weight_decay():
    best = run({"kind": "lp", "p": 2 / 3}, [64])["best"]
    assert (best["family"], best["depth"], best["mechanism"], best["transform"]) == ("hadamard", 3, "weight_decay", "identity")
    assert best["fit_error"] < 1e-6
    # (lambda D / 2) sum |z|^{2/D}: a = 3/2 per unit strength, so lambda = 2/3
    assert best["a"] == pytest.approx(1.5, rel=1e-10)
    assert best["hyperparameters"]["weight_decay"] == pytest.approx(2 / 3, rel=1e-10)


def test_log_sum_hadamard_gauge():
    best = run({"kind": "log_sum"}, [64], mechanisms=["gauge"])["best"]  # weight decay is exact by construction
    assert best["family"] == "hadamard" and best["mechanism"] == "gauge"
    assert best["fit_error"] < 1e-3
    hp = best["hyperparameters"]
    assert hp["learning_rate_over_batch_size"] == pytest.approx(2 * hp["temperature"] / hp["gradient_noise_variance"])


def test_tv_cumsum_basis():
    res = run({"kind": "tv"}, [64])
    assert res["exact"] and res["best"]["family"] == "sum"  # free offset + cumsum Hadamard (the sum rule)
    hadamard = [c for c in res["candidates"] if c["family"] == "hadamard"]
    assert hadamard[0]["basis"] == "cumsum"  # without the offset the cumsum basis is still the best single product
    identity = min(c["fit_error"] for c in hadamard if c.get("basis") == "identity")
    assert hadamard[0]["fit_error"] < 0.5 * identity


def test_basis_l1_cosine_basis():
    best = run({"kind": "basis_l1", "basis": "cosine"}, [64])["best"]
    assert best["basis"] == "cosine" and best["fit_error"] < 1e-6


def test_nuclear_matrix_product_weight_decay():
    res = run({"kind": "nuclear"}, [20, 20])
    best = res["best"]
    assert (best["family"], best["depth"], best["mechanism"]) == ("matrix_product", 2, "weight_decay")
    assert best["fit_error"] < 1e-6
    assert best["param"] == {"family": "matrix_product", "depth": 2, "rank": 20, "rows": 20, "cols": 20}


def test_log_det_matrix_product_gauge():
    best = run({"kind": "log_det"}, [20, 20], mechanisms=["gauge"])["best"]  # weight decay: exact by construction
    assert best["family"] == "matrix_product" and best["mechanism"] == "gauge"


def test_path_norm_relu_weight_decay_scored_by_the_engine():
    """A network family found by the registry-driven search: weight decay on a bias-free ReLU layer
    induces its path norm exactly; the engine scores it (no closed form registered)."""
    res = run({"kind": "path_norm"}, [6, 3], mechanisms=["weight_decay", "gauge"])
    best = res["best"]
    assert best["family"] == "relu_two_layer" and best["mechanism"] == "weight_decay"
    assert best["fit_error"] < 1e-9 and best["a"] == pytest.approx(1.0, rel=1e-9)
    z = np.random.default_rng(2).standard_normal((3, 6, 3))
    got = evaluate_points(best["param"], best["mechanism_spec"], z.tolist())["values"]
    np.testing.assert_allclose(got, np.linalg.norm(z, axis=2).sum(axis=1), rtol=1e-10)


def test_group_l21_group_hadamard():
    best = run({"kind": "group_l21", "group_size": 4}, [64])["best"]
    assert best["family"] == "group_hadamard" and best["fit_error"] < 1e-6


def test_tabulated_fits_the_table():
    pts = np.random.default_rng(5).standard_normal((40, 16)) * 5
    pairs = [{"z": p.tolist(), "value": float(np.abs(p).sum())} for p in pts]
    res = run({"kind": "tabulated", "pairs": pairs}, [16])
    assert res["sampling"]["tabulated"] and res["sampling"]["n_points"] == 40
    assert res["best"]["depth"] == 2 and res["best"]["fit_error"] < 1e-6


def test_gauge_only_l1_is_honest(tmp_path):
    png = tmp_path / "mismatch.png"
    res = design({"target": {"kind": "l1"}, "shape": [64], "mechanisms": ["gauge"]}, plot=str(png))
    assert not res["exact"]
    assert res["fit_error"] > 1e-3
    assert "best achievable fit error" in res["note"]
    assert all(c["mechanism"] == "gauge" for c in res["candidates"])
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gauge_design_agrees_with_designer_bias():
    """Closed-form shapes in the search = the engine's bias for the reported spec (asinh knob included)."""
    req = {"target": {"kind": "l1"}, "shape": [16], "mechanisms": ["gauge"]}
    res = design(req)
    best = res["best"]
    assert best["transform"] == "asinh"
    prob = build_problem(*parse_design_request(req))
    pts = prob.points[:6]
    engine = np.asarray(evaluate_points(best["param"], best["mechanism_spec"], pts.tolist())["values"])
    unit = best["mechanism_spec"]["temperature"]
    t = np.abs(pts).sum(axis=1)
    # engine / unit = shape ~ a t + b up to the residual; compare to the search's own closed form
    from designer.families import build_family

    fam = build_family(best["param"], (16,))
    closed = np.asarray([float(fam.closed_form("gauge")(p)) for p in pts])
    np.testing.assert_allclose(engine / unit, closed, rtol=1e-9)
    assert np.corrcoef(engine, t)[0, 1] > 0.99


@pytest.mark.parametrize("request_, field", [
    ({"target": {"kind": "nope"}, "shape": [8]}, "target"),
    ({"target": {"kind": "lp", "p": 2.5}, "shape": [8]}, "target.p"),
    ({"target": {"kind": "l1"}, "shape": [100_000_000]}, "shape.0"),
    ({"target": {"kind": "l1"}, "shape": ["64"]}, "shape.0"),
    ({"target": {"kind": "l1"}, "shape": [True]}, "shape.0"),
    ({"target": {"kind": "l1"}, "shape": [0]}, "shape.0"),
    ({"target": {"kind": "nuclear"}, "shape": [5000, 5000]}, "shape"),
    ({"target": {"kind": "nuclear"}, "shape": [8]}, "shape"),
    ({"target": {"kind": "tabulated", "pairs": []}, "shape": [2]}, "target.pairs"),
    ({"target": {"kind": "tabulated", "pairs": [{"z": [0, 1], "value": 1}, {"z": [1, 1], "value": float("nan")}, {"z": [2, 1], "value": 3}]}, "shape": [2]}, "target.pairs[1].value"),
    ({"target": {"kind": "l1"}, "shape": [8], "mechanisms": ["magic"]}, "mechanisms.0"),
    ({"target": {"kind": "l1"}, "shape": [8], "mechanisms": ["gauge", "gauge"]}, "mechanisms"),
    ({"target": {"kind": "l1"}, "shape": [8], "budget": 0}, "budget"),
    ({"target": {"kind": "l1"}, "shape": [8], "sampling": {"log10_min": 3, "log10_max": 1}}, "sampling.log10_max"),
    ({"target": {"kind": "l1"}}, "shape"),
])
def test_bad_input_names_the_field(request_, field):
    with pytest.raises(DesignerInputError) as err:
        design(request_)
    assert err.value.field == field, str(err.value)


def test_deterministic_for_a_seed():
    req = {"target": {"kind": "log_sum", "epsilon": 0.01}, "shape": [32], "seed": 3}
    a, b = design(req), design(req)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = design({**req, "seed": 4})
    assert c["fit_error"] != a["fit_error"]


def test_progress_cancel_and_resume():
    # A target with no exact first-stage match (SCAD is flat beyond its threshold), so the refinement runs too.
    req = {"target": {"kind": "scad"}, "shape": [16], "seed": 1, "mechanisms": ["weight_decay"]}
    events = []
    full = design(req, progress=events.append)
    fractions = [e["fraction"] for e in events]
    assert len(events) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all({"fraction", "stage", "best_fit", "best"} <= set(e) for e in events)
    assert {e["stage"] for e in events} == {"screen", "refine"}

    polls = iter(range(100))
    saved = []
    with pytest.raises(DesignCancelled) as err:
        design(req, should_cancel=lambda: next(polls) >= 2, on_state=lambda s: saved.append(json.dumps(s)))
    state = json.loads(json.dumps(err.value.state))  # JSON round trip, as a job would store it
    assert state["steps_done"] == 2 and json.loads(saved[-1]) == state
    resumed = design(None, state=state)
    assert json.dumps(resumed, sort_keys=True) == json.dumps(full, sort_keys=True)


def test_budget_limits_candidates():
    res = run({"kind": "l1"}, [16], budget=5)
    assert res["candidates_scored"] == 5


def test_second_design_does_not_recompile():
    """Compiled functions are keyed by shapes only: a new seed or knob value reuses them (trace counter)."""
    first = run({"kind": "lp", "p": 0.8}, [48], seed=0, mechanisms=["gauge"])
    assert first["refine_skipped"] is None  # not exact under gauge: the knob fit ran (and compiled)
    run({"kind": "lp", "p": 0.8}, [48], seed=0)  # every mechanism (weight decay with a constructed transform)
    run({"kind": "nuclear"}, [6, 6], seed=0)
    before = dict(_scoring.TRACES)
    assert before["fit_hadamard_knob"] >= 1 and before["score_hadamard"] >= 1 and before["score_matrix"] >= 1
    run({"kind": "lp", "p": 0.7}, [48], seed=11, mechanisms=["gauge"])
    run({"kind": "lp", "p": 0.8}, [48], seed=12)
    run({"kind": "nuclear"}, [6, 6], seed=5)
    assert dict(_scoring.TRACES) == before


def test_a_family_added_to_the_registry_is_searched(monkeypatch):
    """A family defined here, registered with one line, is found by the search and scored by the engine."""
    import dataclasses
    from typing import Literal

    import jax.numpy as jnp
    from pydantic import BaseModel, ConfigDict

    from designer._lazy import pytree
    from designer.families import FAMILIES, Family

    @pytree(meta=("dim",))
    @dataclasses.dataclass(frozen=True)
    class Square(Family):
        """``z = sign(u) u^2`` elementwise: no continuous symmetry; weight decay gives sum |z|."""

        dim: int
        name = "toy_square"
        linear_predictor = True

        @property
        def predictor_shape(self):
            return (self.dim,)

        def param_shapes(self):
            return {"u": (self.dim,)}

        def predictor(self, params):
            return jnp.sign(params["u"]) * params["u"] ** 2

        n_blocks = property(lambda self: self.dim)
        block_size = 1
        symmetric_mask = ()

        def to_blocks(self, params):
            return params["u"][:, None]

        def from_blocks(self, blocks):
            return {"u": blocks[:, 0]}

        def block_action(self, x, t):
            return x

        def balanced_point(self, z):
            return {"u": jnp.sign(z) * jnp.sqrt(jnp.abs(z))}

    class SquareSpec(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        family: Literal["toy_square"] = "toy_square"

        def build(self, shape=None):
            return Square(dim=shape[0])

    monkeypatch.setitem(FAMILIES, "toy_square", SquareSpec)
    res = run({"kind": "l1"}, [16], mechanisms=["weight_decay"])
    toy = [c for c in res["candidates"] if c["family"] == "toy_square"]
    assert len(toy) == 1 and toy[0]["param"] == {"family": "toy_square"}
    # (1/2)|w*(z)|^2 = (1/2) sum |z|: exact, with a = 1/2 per unit strength
    assert toy[0]["fit_error"] < 1e-12 and toy[0]["a"] == pytest.approx(0.5, rel=1e-12)
    assert toy[0]["hyperparameters"]["weight_decay"] == pytest.approx(2.0, rel=1e-12)


def test_the_job_spec_is_the_design_request():
    """One schema: the design job carries every field of the library's request, none dropped."""
    from designer.design import DesignRequest
    from designer.jobs import DesignJobSpec

    assert set(DesignRequest.model_fields) <= set(DesignJobSpec.model_fields)
    spec = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "transforms": False, "learning_rate": 0.5,
            "gradient_noise_variance": 2.0}
    job = DesignJobSpec.model_validate(spec)
    req = DesignRequest.model_validate(job.design_request())
    assert (req.transforms, req.learning_rate, req.gradient_noise_variance) == (False, 0.5, 2.0)


@pytest.mark.parametrize("spec, field", [
    ({"kind": "design", "target": {"kind": "lp", "p": 3}, "shape": [8]}, "target.p"),
    ({"kind": "design", "target": {"kind": "l1"}, "shape": [8], "sampling": {"n_points": 2}}, "sampling.n_points"),
])
def test_job_parser_and_library_name_the_same_field(spec, field):
    from designer.jobs import check_job_spec

    with pytest.raises(DesignerInputError) as via_job:
        check_job_spec(spec)
    with pytest.raises(DesignerInputError) as via_design:
        design({k: v for k, v in spec.items() if k != "kind"})
    assert via_job.value.field == via_design.value.field == field


def test_layer_sized_vector_is_scored_on_a_slice_and_checked_at_full_size():
    res = run({"kind": "l1"}, [5000], mechanisms=["weight_decay", "gauge"], max_depth=2)
    assert res["scored_at"]["shape"] == [1024] and res["shape"] == [5000]
    best = res["best"]
    assert best["param"]["dim"] == 5000 and best["fit_error"] < 1e-9
    check = res["engine_check"]
    assert check["shape"] == [5000] and check["method"] == "engine" and check["max_deviation"] < 1e-9
    # the rewritten spec evaluates at full size: (1/2)|w*|^2 = sum |z| exactly
    z = np.random.default_rng(0).standard_normal((2, 5000))
    got = evaluate_points(best["param"], {"kind": "weight_decay", "strength": 1.0}, z.tolist())["values"]
    np.testing.assert_allclose(got, np.abs(z).sum(axis=1), rtol=1e-12)


def test_a_target_that_cannot_be_sliced_says_so():
    sizes = [1000, 2000, 2000]
    with pytest.raises(DesignerInputError) as err:
        design({"target": {"kind": "group_l21", "sizes": sizes}, "shape": [5000]})
    assert err.value.field == "shape" and "slice" in err.value.message


#: one small design per registered target (a new target adds its row): kind -> (spec, shape)
EVERY_TARGET = {
    "l1": ({"kind": "l1"}, [8]),
    "lp": ({"kind": "lp", "p": 0.5}, [8]),
    "log_sum": ({"kind": "log_sum", "epsilon": 0.01}, [8]),
    "group_l21": ({"kind": "group_l21", "group_size": 2}, [8]),
    "tv": ({"kind": "tv"}, [8]),
    "basis_l1": ({"kind": "basis_l1", "basis": "haar"}, [8]),
    "nuclear": ({"kind": "nuclear"}, [4, 4]),
    "schatten": ({"kind": "schatten", "p": 0.5}, [4, 4]),
    "log_det": ({"kind": "log_det"}, [4, 4]),
    "tabulated": ({"kind": "tabulated", "pairs": [{"z": [float(i), 1.0, -2.0, 0.5, 0.0, 1.0, 2.0, 3.0], "value": float(i * i)} for i in range(4)]}, [8]),
    "elastic_net": ({"kind": "elastic_net", "l1_ratio": 1.0}, [8]),
    "huber": ({"kind": "huber"}, [8]),
    "scad": ({"kind": "scad"}, [8]),
    "mcp": ({"kind": "mcp"}, [8]),
    "fused_lasso": ({"kind": "fused_lasso", "lambda": 0.5}, [8]),
    "tv_2d": ({"kind": "tv_2d"}, [4, 4]),
    "sparse_plus_low_rank": ({"kind": "sparse_plus_low_rank"}, [4, 4]),
    "path_norm": ({"kind": "path_norm"}, [4, 3]),
}


def test_every_target_has_a_design_row():
    from designer.targets import TARGETS

    assert set(EVERY_TARGET) == set(TARGETS)


#: targets whose exact design is a sum (scored by the sum's closed form, the infimal convolution of its terms' atoms)
EXACT_SUMS = ("tv", "sparse_plus_low_rank", "huber")


@pytest.mark.parametrize("kind", sorted(EVERY_TARGET))
def test_every_target_designs_end_to_end(kind):
    """Each registered target runs through the search and reports an honest fit error."""
    spec, shape = EVERY_TARGET[kind]
    res = run(spec, shape, mechanisms=["weight_decay"], max_depth=2, transforms=False, sampling={"n_points": 16})
    assert res["target"]["kind"] == kind
    best = res["best"]
    assert best["fit_error"] is not None and 0.0 <= best["fit_error"] <= 1.0
    assert res["exact"] == (best["fit_error"] <= 1e-6)
    if kind in EXACT_SUMS:  # the sum rule: a sum the target declares (theory.md 5.1)
        assert res["exact"] and best["family"] == "sum", (kind, best["fit_error"])
    if kind in ("l1", "elastic_net", "basis_l1", "nuclear"):
        # l1_ratio = 1 is the L1 norm: depth-2 Hadamard under weight decay is exact (theory.md 3)
        assert res["exact"], (kind, best["fit_error"])


@pytest.mark.parametrize("target, shape", [
    ({"kind": "lp", "p": 0.8}, [16]),
    ({"kind": "lp", "p": 1.5}, [16]),
    ({"kind": "elastic_net", "l1_ratio": 0.3}, [16]),
    ({"kind": "huber", "delta": 2.0}, [16]),
    ({"kind": "schatten", "p": 1.5}, [4, 4]),
], ids=lambda v: v["kind"] if isinstance(v, dict) else None)
def test_exact_by_construction_from_the_targets_profile(target, shape):
    """A table transform built from the target's profile makes the design exact (fit error <= 1e-6),
    and 'designer bias' of the reported spec gives the target (engine, fresh points) up to a constant."""
    res = run(target, shape, mechanisms=["weight_decay"], max_depth=2)
    # the table is exact; for huber a trainable exact sum ranks above it (finite slope at 0)
    best = next(c for c in res["candidates"] if c.get("transform") == "table")
    assert res["exact"] and best["fit_error"] <= 1e-6 and best["rule"]
    assert (res["best"]["family"] == "sum") == (target["kind"] == "huber")
    from designer.targets import build_target

    pts = np.random.default_rng(4).standard_normal((5, *shape)) * 3.0
    got = np.asarray(evaluate_points(best["param"], best["mechanism_spec"], pts.tolist())["values"])
    want = np.asarray([float(build_target(target, tuple(shape)).value(p)) for p in pts])
    np.testing.assert_allclose(got - got[0], want - want[0], rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_no_exact_design_says_why():
    res = run({"kind": "scad"}, [16], mechanisms=["weight_decay"], max_depth=2)
    assert not res["exact"] and "flat" in res["note"]


def test_a_later_design_of_the_same_target_reuses_its_constructed_tables(monkeypatch):
    """The tables built from the target's profile depend on the target, mechanism and range only:
    a second design with another seed takes them from the first (no quadrature again)."""
    from designer.families import _hadamard_closed

    req = {"target": {"kind": "lp", "p": 0.7}, "shape": [16], "mechanisms": ["weight_decay", "label_noise"]}
    first = design(req)
    tables = {c["id"] for c in first["candidates"] if (c["param"].get("transform") or {}).get("kind") == "table"}
    assert len(tables) == 2

    def rebuilt(*args, **kwargs):
        raise AssertionError("the table was built again")

    monkeypatch.setattr(_hadamard_closed, "exact_design", rebuilt, raising=False)
    import designer.constructive as constructive
    monkeypatch.setattr(constructive, "exact_design", rebuilt)
    second = design({**req, "seed": 1})
    assert {c["id"] for c in second["candidates"] if (c["param"].get("transform") or {}).get("kind") == "table"} == tables
    with pytest.raises(AssertionError, match="built again"):  # another range is another table
        design({**req, "sampling": {"log10_max": 1.5}})
