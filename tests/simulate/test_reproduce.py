"""A tiny end-to-end ``reproduce`` at reduced steps writes its JSON (a row per authors' number) and PNG."""

import json

import pytest

from designer.errors import Cancelled
from designer.reproduce import figure_spec, run_figure

# every number of the authors' result column of docs/experiments.md, per figure
AUTHORS = {
    "fig2": {0.002, 3.6, 0.94, 1.005, 2.02, 0.013, 1.0},
    "fig3": {0.037, 5.3, 0.935, 1.012, 0.379, 0.983, 0.367, 0.982},
    "fig4": {14.87, 4.03, 3.24, 2.19, 1.61, 0.93, 1.25, 7e-4},
    "fig5": {2.52, 0.053, 0.023, 56, 3, 5},
    "fig6": {1.389, 0.080, 129.6, 23.4, 3.8e-9, 8.5e-7},
}


@pytest.mark.parametrize("figure", sorted(AUTHORS))
def test_rows_cover_the_authors_numbers(figure):
    fig = figure_spec(figure)
    assert {r.authors for r in fig.rows} == AUTHORS[figure]
    assert len(fig.rows) == len({(r.metric, r.model, r.at) for r in fig.rows})


def test_reproduce_fig5_end_to_end(tmp_path):
    seen = []
    doc = run_figure("fig5", steps=100, seeds=2, out_dir=tmp_path, progress=lambda f, s: seen.append(f))
    on_disk = json.loads((tmp_path / "fig5.json").read_text())
    assert on_disk == json.loads(json.dumps(doc))
    assert (tmp_path / "fig5.png").stat().st_size > 10_000
    assert set(doc) == {"figure", "config", "rows"}
    assert {r["authors"] for r in doc["rows"]} == AUTHORS["fig5"]
    for r in doc["rows"]:
        assert set(r) == {"metric", "model", "authors", "ours", "ours_spread", "ours_converged"}
        assert r["ours"] == r["ours"] and r["ours_spread"] >= 0  # finite, not NaN
    assert doc["config"]["steps"] == 100 and doc["config"]["converged_steps"] == 1000
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_reproduce_cancels_between_chunks(tmp_path):
    with pytest.raises(Cancelled):
        run_figure("fig2", steps=100, seeds=1, out_dir=tmp_path, should_cancel=lambda: True)
    assert not (tmp_path / "fig2.json").exists()


def test_cli_reproduce(tmp_path, capsys):
    from designer.cli import main

    assert main(["reproduce", "fig4", "--steps", "50", "--seeds", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mode_energy_1" in out and "14.87" in out
    assert (tmp_path / "fig4.json").exists() and (tmp_path / "fig4.png").exists()


# the authors' scripts (their Config defaults): (steps to their plot, steps in all, logging interval)
AUTHORS_WORK = {"fig2": (40_000, 500_000, 10), "fig3": (50_000, 300_000, 100), "fig4": (500_000, 500_000, 1000),
                "fig5": (50_000, 50_000, 1), "fig6": (500_000, 500_000, 1)}


@pytest.mark.parametrize("figure", sorted(AUTHORS_WORK))
def test_horizons_of_the_authors_work(figure):
    from designer.reproduce import _horizons

    fig = figure_spec(figure)
    main, total, every = AUTHORS_WORK[figure]
    got = _horizons(fig, None, "authors", "authors")
    assert got[:3] == (main, total, every)
    assert got[3] == (every if total == main else (total - main) // 100)  # about 100 records after
    # the defaults are unchanged: about 100 records, the longer horizon
    assert _horizons(fig, None) == (main, fig.converged_steps, main // 100, main // 100)


def test_horizon_and_cadence_are_checked():
    from designer.errors import DesignerInputError
    from designer.reproduce import _horizons

    fig = figure_spec("fig2")
    for kwargs, field in (({"horizon": "forever"}, "horizon"), ({"record_every": 7}, "record_every"),
                          ({"record_every": "often"}, "record_every"), ({"record_every": 0}, "record_every")):
        with pytest.raises(DesignerInputError) as err:
            _horizons(fig, 100, **kwargs)
        assert err.value.field == field


def test_authors_cadence_records_the_same_trajectory(tmp_path):
    """Two phases (every 10 steps, then about 100 records) and the default (every step here) give the
    same numbers at the common steps, for the requested seeds and horizons."""
    import numpy as np

    from designer import reproduce

    seen = {}
    real = reproduce._run_curves

    def keep(*args):
        seen[len(seen)] = out = real(*args)
        return out

    reproduce._run_curves = keep
    try:
        doc = run_figure("fig2", steps=40, seeds=3, out_dir=tmp_path / "a", horizon="authors", record_every="authors")
        run_figure("fig2", steps=40, seeds=3, out_dir=tmp_path / "b", horizon="authors")  # every step
    finally:
        reproduce._run_curves = real
    cfg = doc["config"]
    assert (cfg["steps"], cfg["converged_steps"], cfg["record_every"], cfg["record_every_after"], cfg["seeds"]) == \
        (40, 500, 10, 5, 3)
    two, one = seen[0]["student"]["records"], seen[1]["student"]["records"]
    want = np.r_[10:41:10, 45:501:5]
    np.testing.assert_array_equal(two["step"][0], want)
    assert two["balance"].shape == (3, len(want), 16)
    assert set(two) == {"balance", "train_mse", "batch_loss", "finite", "step"}  # what the plot draws
    assert one["step"].shape == (3, 500)
    at = np.searchsorted(one["step"][0], want)
    np.testing.assert_allclose(two["balance"], one["balance"][:, at], rtol=1e-5)
    np.testing.assert_allclose(two["train_mse"], one["train_mse"][:, at], rtol=1e-5)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("n", [1, 7, 2000, 2001, 500_000])
def test_plots_draw_at_most_plot_points_per_curve_with_both_ends(n, log):
    import numpy as np

    from designer.reproduce import PLOT_POINTS, _thin

    idx = _thin(n, log)
    assert idx[0] == 0 and idx[-1] == n - 1
    assert len(idx) <= PLOT_POINTS and np.all(np.diff(idx) > 0)
    if n <= PLOT_POINTS:
        np.testing.assert_array_equal(idx, np.arange(n))
    elif log:  # log spacing: the first decade of records is kept whole
        assert set(range(10)) <= set(idx.tolist())
    else:  # even spacing: no gap wider than twice the even step
        assert np.diff(idx).max() <= 2 * (n - 1) / (PLOT_POINTS - 1) + 1


@pytest.fixture
def backend_compiles():
    """A list of the names of the programs XLA compiles during the test (JAX's own monitoring
    event); the listener is removed afterwards."""
    import jax

    seen = []

    def listen(event, _secs, fun_name="", **_kw):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(fun_name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    yield seen
    jax.monitoring.unregister_event_duration_listener(listen)


def test_compile_run_compiles_what_run_calls(backend_compiles):
    """The preparing thread's compile_run compiles the very program run calls (run neither traces
    nor compiles it again), and the run equals a fresh simulator's, step for step."""
    import jax
    import numpy as np

    from designer.reproduce import _phases, figure_spec
    from designer.simulate import Simulator

    fig = figure_spec("fig3")
    curve = fig.curves[0]
    compiles = backend_compiles

    def make():
        sim = Simulator(curve.model, curve.task, noise=curve.noise, metrics=fig.logged)
        state, hyper, data = sim.setup(np.arange(1), sim.hyper(curve.learning_rate), init=lambda k: curve.init(sim, k))
        return sim, state, hyper, data

    per_chunk = _phases(64, 96, 16, 16)[0]
    sim, state, hyper, data = make()
    sim.compile_snapshot(state, data)
    sim.compile_run(state, hyper, data, 64, 16, per_chunk)
    traces = sim.n_traces
    assert traces == 1
    before = len(compiles)
    res = sim.run(state, hyper, data, 64, 16, records_per_chunk=per_chunk)
    assert sim.n_traces == traces and compiles[before:] == []
    other, state2, hyper2, data2 = make()
    res2 = other.run(state2, hyper2, data2, 64, 16, records_per_chunk=per_chunk)
    for a, b in zip(jax.tree_util.tree_leaves(res.state.params), jax.tree_util.tree_leaves(res2.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_phases_share_one_program_where_the_second_records_at_a_multiple():
    from designer.reproduce import SHARED_PROGRAM_RECORDS, _horizons, _phases

    # Fig. 3 at the authors' cadence: every 100 steps to 50,000, then every 2,500 to 300,000
    plan = _horizons(figure_spec("fig3"), None, "authors", "authors")
    assert plan == (50_000, 300_000, 100, 2_500)
    assert _phases(*plan) == (125, 100, 25)  # 500 + 2,500 records of 100 steps, 24 chunks of 125
    # Fig. 2: every 10 steps to 40,000, then every 4,600: 46,000 records at 10 would be too many
    plan = _horizons(figure_spec("fig2"), None, "authors", "authors")
    assert plan == (40_000, 500_000, 10, 4_600) and 460_000 // 10 > SHARED_PROGRAM_RECORDS
    assert _phases(*plan) == (None, 4_600, 1)
    # the default cadence: one interval, one program, as before
    assert _phases(*_horizons(figure_spec("fig3"), None)) == (25, 500, 1)  # 100 + 500 records, 24 chunks
    assert _phases(100, 300, 10, 15) == (None, 15, 1)  # not a multiple


def test_shared_program_records_the_same_trajectory(tmp_path):
    """Fig. 3 with a second phase at twice the first's interval: one chunk program for both
    phases, and the kept records are those of a run that records every 2 steps throughout (two
    phases at one interval) at their common steps."""
    import numpy as np

    from designer import reproduce

    seen = []
    real = reproduce._run_curves

    def keep(*args):
        out = real(*args)
        sim = args[5]["fig3", "student"][0].result()[0]
        seen.append((out, sim.n_traces))
        return out

    reproduce._run_curves = keep
    try:
        doc = run_figure("fig3", steps=200, seeds=2, out_dir=tmp_path / "a", horizon="authors", record_every=5)
        run_figure("fig3", steps=200, seeds=2, out_dir=tmp_path / "b", horizon="authors")  # every 2 steps
    finally:
        reproduce._run_curves = real
    cfg = doc["config"]
    assert (cfg["steps"], cfg["converged_steps"], cfg["record_every"], cfg["record_every_after"]) == (200, 1200, 5, 10)
    (shared, traces), (fine, _) = seen
    assert traces == 1  # one program for both phases
    got, ref = shared["student"]["records"], fine["student"]["records"]
    want = np.r_[5:201:5, 210:1201:10]
    np.testing.assert_array_equal(got["step"][0], want)
    common = want % 2 == 0  # the reference records every 2 steps: all of the second phase's
    assert common.sum() == 20 + 100
    at = np.searchsorted(ref["step"][0], want[common])
    np.testing.assert_array_equal(ref["step"][0][at], want[common])
    for k in ("balance", "frobenius_ratio", "nuclear_ratio"):
        np.testing.assert_allclose(got[k][:, common], ref[k][:, at], rtol=1e-5)
    for at_ in ("start", "main", "conv"):
        for k, v in shared["student"][at_].items():
            np.testing.assert_allclose(v, fine["student"][at_][k], rtol=1e-5, err_msg=f"{at_} {k}")


@pytest.mark.parametrize("figure,curve_name", [("fig3", "student"), ("fig6", "designed")])
def test_either_emitters_take_the_same_steps(monkeypatch, figure, curve_name):
    """The chunk programs compile with XLA's loop emitters on CPU, attention's with its fusion
    emitters (``Task.fusion_emitters``); either way the steps are the same to float32 rounding."""
    import jax
    import numpy as np

    import designer.simulate._simulator as simulator
    from designer.simulate import Simulator

    fig = figure_spec(figure)
    curve = next(c for c in fig.curves if c.name == curve_name)

    def final_params():
        sim = Simulator(curve.model, curve.task, noise=curve.noise, metrics=fig.logged)
        state, hyper, data = sim.setup(np.arange(2), sim.hyper(curve.learning_rate), init=lambda k: curve.init(sim, k))
        used = sim._chunk_options()
        res = sim.run(state, hyper, data, 200, 50)
        return used, [np.asarray(a) for a in jax.tree_util.tree_leaves(res.state.params)]

    used, ours = final_params()
    assert used.get("xla_cpu_use_fusion_emitters", True) is (figure == "fig3")
    flipped = {k: v for k, v in simulator.CPU_CHUNK_OPTIONS.items() if k != "xla_cpu_use_fusion_emitters"}
    if figure == "fig3":  # the task asks for the fusion emitters: take them away from every task
        from designer.simulate.tasks.attention_teacher import AttentionTeacher

        monkeypatch.setattr(AttentionTeacher, "fusion_emitters", False)
        flipped["xla_cpu_use_fusion_emitters"] = False
    monkeypatch.setattr(simulator, "CPU_CHUNK_OPTIONS", flipped)
    other_used, other = final_params()
    assert other_used != used
    for a, b in zip(ours, other):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
