"""``designer export``: the generated PyTorch and JAX modules against the library and the simulator."""

import importlib.util
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.cli import main
from designer.errors import DesignerInputError
from designer.export import ARTIFACT_NAMES, EXPORT_MAX_MATRIX, export_design
from designer.families import build_family

torch = pytest.importorskip("torch")

TASK = {"kind": "sparse_regression", "n": 40, "d": 64, "k": 3}
LR, STEPS, EVERY = 0.05, 1000, 10


def load(tmp_path, source: str, name: str):
    """Import a generated module from a file (as a user would)."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def design_result():
    from designer.design import design

    return design({"target": {"kind": "l1"}, "shape": [64], "strength": 0.05, "max_depth": 2,
                   "mechanisms": ["weight_decay", "label_noise", "gauge"]})


def entry(param, mechanism_spec=None, hyperparameters=None, cid="c0"):
    mspec = mechanism_spec or {"kind": "weight_decay", "strength": 0.1}
    e = {"id": cid, "param": param, "mechanism": mspec["kind"], "mechanism_spec": mspec,
         "hyperparameters": hyperparameters or {}}
    return {"target": {"kind": "l1"}, "strength": 0.1, "best": e, "candidates": [e]}


def sparse_data(sim):
    return jax.tree_util.tree_map(np.asarray, sim.task.generate(jax.random.PRNGKey(0), jnp.float64))


def test_torch_export_follows_the_simulator_and_recovers_the_support(design_result, tmp_path):
    from designer.simulate import Simulator

    best = design_result["best"]
    assert best["param"] == {"family": "hadamard", "depth": 2, "basis": "identity", "dim": 64}
    assert best["mechanism"] == "weight_decay"
    P = load(tmp_path, export_design(design_result, "torch"), "p_torch")
    assert P.WEIGHT_DECAY == pytest.approx(best["mechanism_spec"]["strength"], rel=1e-15)
    sim = Simulator(best["param"], TASK, noise=[{"kind": "weight_decay", "strength": P.WEIGHT_DECAY, "mode": "coupled"}],
                    dtype="float64", metrics=False)
    data = sparse_data(sim)
    (u0,) = P.initial_factors(dtype=torch.float64)
    state, hyper, shared = sim.setup_given({"u": u0.numpy()}, data, [0], sim.hyper(LR))
    res = sim.run(state, hyper, shared, STEPS, EVERY)

    torch.set_num_threads(1)
    model = P.DesignedWeight(factors=(u0,))
    opt = P.optimizer(model, lr=LR)
    x, y = torch.tensor(data["train"]["x"]), torch.tensor(data["train"]["y"])
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((x @ model() - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the simulator records the loss of the last step of each interval
    np.testing.assert_allclose(np.asarray(losses)[EVERY - 1::EVERY], res.records["batch_loss"][0], rtol=1e-6, atol=1e-12)
    u_torch = model.factors[0].detach().numpy()
    np.testing.assert_allclose(u_torch, np.asarray(res.state.params["u"][0]), atol=1e-6)
    z = model().detach().numpy()
    assert set(np.nonzero(np.abs(z) > 0.05)[0]) == set(np.nonzero(data["truth"])[0])
    assert losses[-1] < 1e-2 * losses[0]


def test_jax_export_trains_with_optax_to_the_simulators_end_point(design_result, tmp_path):
    import optax

    from designer.simulate import Simulator

    J = load(tmp_path, export_design(design_result, "jax"), "p_jax")
    best = design_result["best"]
    sim = Simulator(best["param"], TASK, noise=[{"kind": "weight_decay", "strength": J.WEIGHT_DECAY, "mode": "coupled"}],
                    dtype="float64", metrics=False)
    data = sparse_data(sim)
    params = J.init(jax.random.PRNGKey(0), dtype=jnp.float64)
    state, hyper, shared = sim.setup_given(params, data, [0], sim.hyper(LR))
    end = np.asarray(sim.run(state, hyper, shared, STEPS, STEPS).state.params["u"][0])

    opt = J.optimizer(LR)
    x, y = jnp.asarray(data["train"]["x"]), jnp.asarray(data["train"]["y"])

    @jax.jit
    def train(params):
        def step(carry, _):
            p, s = carry
            g = jax.grad(lambda p: jnp.mean((x @ J.predictor(p) - y) ** 2))(p)
            updates, s = opt.update(g, s, p)
            return (optax.apply_updates(p, updates), s), None
        return jax.lax.scan(step, (params, opt.init(params)), None, length=STEPS)[0][0]

    trained = train(params)
    np.testing.assert_allclose(np.asarray(trained["u"]), end, atol=1e-6)
    z = np.asarray(J.predictor(trained))
    assert set(np.nonzero(np.abs(z) > 0.05)[0]) == set(np.nonzero(data["truth"])[0])


def test_register_parametrization_on_an_existing_layer(design_result, tmp_path):
    P = load(tmp_path, export_design(design_result, "torch"), "p_layer")
    layer = torch.nn.Linear(64, 1, bias=False).double()
    w0 = layer.weight.detach().clone()
    torch.nn.utils.parametrize.register_parametrization(layer, "weight", P.Parameterization())
    np.testing.assert_allclose(layer.weight.detach().numpy(), w0.numpy(), atol=1e-15)
    u = layer.parametrizations.weight.original0.detach().numpy()
    np.testing.assert_allclose(np.abs(u[0]), np.abs(u[1]), rtol=1e-12)  # balanced
    net = torch.nn.Sequential(layer, torch.nn.Linear(1, 1).double())
    opt = P.optimizer(net, lr=0.1)
    decays = sorted((g["weight_decay"], sum(p.numel() for p in g["params"])) for g in opt.param_groups)
    assert decays == [(0.0, 2), (P.WEIGHT_DECAY, 128)]  # the factors only
    P.init_parametrized(layer, scale=0.5)  # the designed start: factors (0.5, 0), weight 0
    np.testing.assert_array_equal(layer.parametrizations.weight.original0.detach().numpy(),
                                  np.stack([np.full(64, 0.5), np.zeros(64)]))
    assert float(layer.weight.detach().abs().max()) == 0.0


#: A table transform: psi^-1 through (y, x), PCHIP slopes unless given; the points below reach past the last knot.
TABLE = {"kind": "table", "x": [0.0, 0.3, 1.0, 2.5, 6.0], "y": [0.0, 0.5, 1.2, 2.0, 3.0]}

SPECS = [
    {"family": "hadamard", "depth": 3, "basis": "cosine", "dim": 16},
    {"family": "hadamard", "depth": 2, "basis": "cumsum", "dim": 16, "transform": {"kind": "asinh", "scale": 0.3}},
    {"family": "hadamard", "depth": 2, "basis": "haar", "dim": 16, "transform": {"kind": "signed_power", "exponent": 1.5}},
    {"family": "hadamard", "depth": 2, "basis": "identity", "dim": 16, "transform": TABLE},
    {"family": "hadamard", "depth": 3, "basis": "cosine", "dim": 16, "transform": {**TABLE, "slopes": [0.5, 0.5, 0.8, 1.0, 1.2]}},
    {"family": "group_hadamard", "group_size": 4, "dim": 16},
    {"family": "interval_hadamard", "lambda": 0.6, "dim": 7},
    {"family": "matrix_product", "depth": 3, "rank": 3, "rows": 4, "cols": 5},
    {"family": "scalar_product"},
    {"family": "relu_two_layer", "hidden": 3, "inputs": 4, "outputs": 2},
    {"family": "attention_qk", "symmetry": "columns", "d_emb": 4, "d_head": 2},
    {"family": "attention_qk", "symmetry": "gl", "d_emb": 4, "d_head": 4},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['family']}-{s.get('basis', s.get('symmetry', ''))}")
def test_every_piece_agrees_with_the_library_family(spec, tmp_path):
    _agrees_with_the_library(spec, None, tmp_path)


def _well_conditioned(n, seed):
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    return (q * np.linspace(0.5, 2.0, n)).tolist()  # singular values 0.5 .. 2


GIVEN_BASES = [  # the 2-D cumulative sum and given matrices (vectors, matrices, a linear map, a sum)
    ({"family": "hadamard", "depth": 2, "basis": "cumsum2d"}, (3, 4)),
    ({"family": "hadamard", "depth": 3, "basis": {"kind": "matrix", "values": _well_conditioned(5, 0)}}, (5,)),
    ({"family": "hadamard", "depth": 2, "basis": {"kind": "matrix", "values": _well_conditioned(6, 1)},
      "transform": {"kind": "asinh", "scale": 0.5}}, (2, 3)),
    ({"family": "linear", "basis": {"kind": "matrix", "values": _well_conditioned(4, 2)}}, (4,)),
]


@pytest.mark.parametrize("spec, shape", GIVEN_BASES, ids=["cumsum2d", "matrix-vector", "matrix-matrix", "linear-matrix"])
def test_given_and_2d_bases_export_the_librarys_map(spec, shape, tmp_path):
    _agrees_with_the_library(spec, shape, tmp_path)


def _agrees_with_the_library(spec, shape, tmp_path):
    fam = build_family(spec, shape)
    e = entry(spec)
    if shape is not None:
        e["shape"] = list(shape)
    P = load(tmp_path, export_design(e, "torch"), "p_t")
    J = load(tmp_path, export_design(e, "jax"), "p_j")
    assert P.NAMES == J.NAMES and set(P.NAMES) == set(fam.param_shapes())
    rng = np.random.default_rng(1)
    params = {k: rng.normal(size=s) for k, s in fam.param_shapes().items()}
    z = np.asarray(fam.predictor({k: jnp.asarray(v) for k, v in params.items()}))
    np.testing.assert_allclose(np.asarray(J.predictor({k: jnp.asarray(v) for k, v in params.items()})), z, rtol=1e-12, atol=1e-12)
    z_t = P.predictor(*[torch.tensor(params[k]) for k in P.NAMES]).numpy()
    np.testing.assert_allclose(z_t, z, rtol=1e-12, atol=1e-12)
    # the balanced point: the library's, and a point of the fibre over z
    want = {k: np.asarray(v) for k, v in fam.balanced_point(jnp.asarray(z)).items()}
    got_t = dict(zip(P.NAMES, (f.numpy() for f in P.balanced_factors(torch.tensor(z)))))
    got_j = {k: np.asarray(v) for k, v in J.balanced(jnp.asarray(z)).items()}
    for got in (got_t, got_j):
        np.testing.assert_allclose(np.asarray(fam.predictor({k: jnp.asarray(v) for k, v in got.items()})), z, rtol=1e-9, atol=1e-9)
        assert sum(float(np.sum(v ** 2)) for v in got.values()) == pytest.approx(sum(float(np.sum(v ** 2)) for v in want.values()), rel=1e-9)
    init_t = P.initial_factors(generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    init_j = J.init(jax.random.PRNGKey(0), dtype=jnp.float64)
    assert [tuple(f.shape) for f in init_t] == [tuple(fam.param_shapes()[k]) for k in P.NAMES]
    assert {k: tuple(v.shape) for k, v in init_j.items()} == {k: tuple(s) for k, s in fam.param_shapes().items()}


def test_every_candidate_of_a_design_exports(design_result, tmp_path):
    table = 0
    for c in design_result["candidates"]:
        table += (c["param"].get("transform") or {}).get("kind") == "table"
        for fw in ("torch", "jax"):
            module = load(tmp_path, export_design(design_result, fw, c["id"]), f"c_{fw}")
            assert module.MECHANISM == c["mechanism"]
    assert table >= 2  # the design offers the table transforms built from the target (weight decay, label noise)


@pytest.mark.parametrize("spec", [SPECS[3], SPECS[4]], ids=["table", "table-slopes"])
def test_table_transform_gradients_are_the_librarys(spec, tmp_path):
    """psi by bisection with the implicit-function derivative: values and gradients of the exported
    predictor against the library's (autodiff through its own bisection), points past the last knot included."""
    fam = build_family(spec)
    P = load(tmp_path, export_design(entry(spec), "torch"), "p_t")
    J = load(tmp_path, export_design(entry(spec), "jax"), "p_j")
    rng = np.random.default_rng(4)
    u = rng.normal(size=(spec["depth"], 16)) * 2.0  # |prod| up to ~10 > the last knot 6
    w = rng.normal(size=16)
    loss_lib = lambda v: jnp.dot(jnp.asarray(w), fam.predictor({"u": v}))
    value, grad = jax.value_and_grad(loss_lib)(jnp.asarray(u))
    loss_j = lambda v: jnp.dot(jnp.asarray(w), J.predictor({"u": v}))
    np.testing.assert_allclose(np.asarray(jax.grad(loss_j)(jnp.asarray(u))), np.asarray(grad), rtol=1e-10, atol=1e-12)
    u_t = torch.tensor(u, requires_grad=True)
    loss_t = torch.dot(torch.tensor(w), P.predictor(u_t))
    loss_t.backward()
    assert float(loss_t.detach()) == pytest.approx(float(value), rel=1e-12)
    np.testing.assert_allclose(u_t.grad.numpy(), np.asarray(grad), rtol=1e-10, atol=1e-12)


def test_mechanism_settings(tmp_path):
    gauge = entry({"family": "hadamard", "dim": 8}, {"kind": "gauge", "temperature": 0.01}, {"gradient_noise_variance": 2.0})
    P = load(tmp_path, export_design(gauge, "torch"), "g_t")
    J = load(tmp_path, export_design(gauge, "jax"), "g_j")
    for m in (P, J):  # T = eta s^2 / (2 B)
        assert m.learning_rate(8) == pytest.approx(2 * 0.01 * 8 / 2.0, rel=1e-15)
    assert P.optimizer(P.DesignedWeight(), 8).param_groups[0]["lr"] == pytest.approx(0.08)
    noise = entry({"family": "hadamard", "dim": 8}, {"kind": "label_noise", "variance": 0.25, "learning_rate": 0.02})
    P = load(tmp_path, export_design(noise, "torch"), "n_t")
    J = load(tmp_path, export_design(noise, "jax"), "n_j")
    assert (P.LABEL_NOISE_VARIANCE, P.LEARNING_RATE) == (0.25, 0.02)
    y = torch.zeros(200_000, dtype=torch.float64)
    assert float(P.add_label_noise(y, torch.Generator().manual_seed(0)).var()) == pytest.approx(0.25, rel=0.02)
    assert float(jnp.var(J.add_label_noise(jax.random.PRNGKey(0), jnp.zeros(200_000)))) == pytest.approx(0.25, rel=0.02)
    assert P.optimizer(P.DesignedWeight()).param_groups[0]["lr"] == 0.02


def test_bad_input_names_the_field(design_result, tmp_path, capsys):
    with pytest.raises(DesignerInputError) as err:
        export_design(design_result, "torch", "hadamard/basis=identity/depth=9/transform=identity/weight_decay")
    assert err.value.field == "candidate"
    with pytest.raises(DesignerInputError) as err:
        export_design(design_result, "tensorflow")
    assert err.value.field == "framework" and "torch" in err.value.message
    with pytest.raises(DesignerInputError) as err:  # a field no spec has: rejected, not written out
        export_design(entry({"family": "hadamard", "dim": 8, "code": "__import__('os')"}), "torch")
    assert err.value.field == "param.code"
    with pytest.raises(DesignerInputError) as err:
        export_design(entry({"family": "hadamard", "dim": 8, "transform": {"kind": "exp"}}), "jax")
    assert err.value.field.startswith("param.") and "transform" in err.value.field
    big = entry({"family": "hadamard", "basis": {"kind": "matrix", "values": _well_conditioned(EXPORT_MAX_MATRIX + 1, 3)}})
    big["shape"] = [EXPORT_MAX_MATRIX + 1]
    with pytest.raises(DesignerInputError) as err:  # a given matrix is written out as literals: bounded
        export_design(big, "torch")
    assert err.value.field == "param.basis.values" and str(EXPORT_MAX_MATRIX) in err.value.message
    bad = entry({"family": "hadamard", "dim": 8})
    bad["best"]["mechanism_spec"] = None
    with pytest.raises(DesignerInputError) as err:
        export_design(bad, "torch")
    assert err.value.field == "mechanism_spec"
    with pytest.raises(DesignerInputError) as err:
        export_design({"best": 1}, "torch")
    assert err.value.field == "design"
    # the command line: exit status 2 and the field
    path = tmp_path / "d.json"
    path.write_text(json.dumps(design_result))
    assert main(["export", "--design", str(path), "--framework", "mxnet", "--out", str(tmp_path / "x.py")]) == 2
    assert "framework" in capsys.readouterr().err
    assert main(["export", "--design", str(path), "--candidate", "nope", "--framework", "torch"]) == 2
    assert "candidate" in capsys.readouterr().err
    assert main(["export", "--design", str(path), "--framework", "torch", "--out", str(tmp_path / ARTIFACT_NAMES["torch"])]) == 0
    assert (tmp_path / ARTIFACT_NAMES["torch"]).read_text() == export_design(design_result, "torch")


def test_text_of_the_request_never_reaches_the_code():
    d = entry({"family": "hadamard", "dim": 8}, cid="x\"\"\"\nimport os; os.system('echo pwned')")
    d["best"]["description"] = d["candidates"][0]["description"] = "'''; raise SystemExit"
    d["target"] = {"kind": "l1\"\"\"; import os"}
    src = export_design(d, "torch", d["candidates"][0]["id"])
    assert "pwned" not in src and "SystemExit" not in src and "import os" not in src


SUMS = [  # tv (a free offset before cumsum), robust PCA (low rank + sparse), Huber (hadamard + linear), 2-D cumsum
    ({"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]}, (6,)),
    ({"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}], "weights": [1.0, 2.5]}, (4, 3)),
    ({"family": "sum", "terms": [{"family": "hadamard", "depth": 3, "transform": TABLE}, {"family": "linear", "basis": "cosine"}],
      "weights": [1.0, 0.5]}, (8,)),
    ({"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum2d"}]}, (3, 4)),
]


@pytest.mark.parametrize("spec, shape", SUMS, ids=["tv", "robust_pca", "huber_like", "cumsum2d"])
def test_sums_export_the_librarys_predictor_and_spare_free_terms(spec, shape, tmp_path):
    fam = build_family(spec, shape)
    e = entry(spec)
    e["shape"] = list(shape)
    P = load(tmp_path, export_design(e, "torch"), "s_t")
    J = load(tmp_path, export_design(e, "jax"), "s_j")
    assert P.NAMES == J.NAMES and set(P.NAMES) == set(fam.param_shapes())
    free = tuple(f"{k}.c" for k, t in enumerate(spec["terms"]) if t["family"] == "free")
    assert P.FREE_NAMES == J.FREE_NAMES == free
    rng = np.random.default_rng(2)
    params = {k: rng.normal(size=s) for k, s in fam.param_shapes().items()}
    z = np.asarray(fam.predictor({k: jnp.asarray(v) for k, v in params.items()}))
    np.testing.assert_allclose(np.asarray(J.predictor({k: jnp.asarray(v) for k, v in params.items()})), z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(P.predictor(*[torch.tensor(params[k]) for k in P.NAMES]).numpy(), z, rtol=1e-12, atol=1e-12)
    # balanced factors: a point of the fibre over z, in both frameworks
    np.testing.assert_allclose(P.predictor(*P.balanced_factors(torch.tensor(z))).numpy(), z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.asarray(J.predictor(J.balanced(jnp.asarray(z)))), z, rtol=1e-9, atol=1e-9)
    # the designed start: every term at its own start, free terms at 0; weight decay on every factor but the free ones
    start = dict(zip(P.NAMES, (f.numpy() for f in P.initial_factors(generator=torch.Generator().manual_seed(0), dtype=torch.float64))))
    jstart = {k: np.asarray(v) for k, v in J.init(jax.random.PRNGKey(0), dtype=jnp.float64).items()}
    for got in (start, jstart):
        assert {k: v.shape for k, v in got.items()} == {k: tuple(s) for k, s in fam.param_shapes().items()}
        assert all(not np.any(got[name]) for name in free)
    model = P.DesignedWeight(factors=[torch.tensor(params[k]) for k in P.NAMES])
    groups = P.optimizer(model, lr=0.1).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert [name for name, p in model.named_factors().items() if id(p) not in decayed] == list(free)
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    updates, _ = J.optimizer(1.0).update(jax.tree_util.tree_map(jnp.zeros_like, jparams), J.optimizer(1.0).init(jparams), jparams)
    assert sorted(k for k, u in updates.items() if not np.any(np.asarray(u))) == sorted(free)
