"""maml_core.training and maml_core.config: smoke meta-training that must learn, the callback, stop,
resume, the Omniglot algorithms on synthetic data, and config validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import synthetic_omniglot

from maml_core import (
    CheckpointError,
    ConfigError,
    DataError,
    OmniglotData,
    StepInfo,
    TrainConfig,
    Trainer,
    adaptation_curves,
    build_model,
    default_config,
    get_params,
    meta_train,
    task_sampler,
)

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")


def _query_mse_after_one_step(config: TrainConfig, model, params) -> float:
    curves = adaptation_curves(model, params, task_sampler(config), tasks=200, steps=1, inner_lr=config.inner_lr)
    return curves.query_loss[0][1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("algo", ["maml", "fomaml", "pretrain"])
def test_sinusoid_training_lowers_the_query_loss(algo):
    config = default_config("sinusoid", algo, iterations=300)
    result = meta_train(config, log_every=50)
    assert result.iterations_done == 300 and not result.stopped_early
    assert [h["iteration"] for h in result.history] == [50, 100, 150, 200, 250, 300]
    assert result.history[-1]["meta_loss"] < result.history[0]["meta_loss"]
    torch.manual_seed(config.seed)  # meta_train's initialisation
    before = _query_mse_after_one_step(config, result.model, get_params(build_model(config.model)))
    after = _query_mse_after_one_step(config, result.model, result.params)
    assert after < 0.85 * before, (before, after)  # measured: maml 3.79 -> 2.36, fomaml -> 2.69, pretrain -> 2.86


def test_on_step_reports_every_iteration_and_false_stops_the_run():
    seen: list[StepInfo] = []

    def on_step(info: StepInfo):
        seen.append(info)
        return False if info.iteration == 7 else None

    result = meta_train(default_config("sinusoid", "maml", iterations=100, inner_steps=2), on_step=on_step)
    assert [s.iteration for s in seen] == list(range(1, 8))
    assert result.stopped_early and result.iterations_done == 7
    # the curve over inner steps 0..2 on tracked iterations (the first, every track_every-th), else the last step
    assert len(seen[0].query_losses) == 3 and all(len(s.query_losses) == 1 for s in seen[1:])
    s = seen[-1]
    assert s.iterations == 100 and s.accuracies is None
    assert s.query_losses[-1] == pytest.approx(s.meta_loss)
    assert seen[0].query_losses[-1] == pytest.approx(seen[0].meta_loss)
    assert s.its_per_sec > 0 and s.elapsed > 0 and set(s.params) == set(result.params)
    for k in result.params:  # the result holds the weights learned so far
        assert torch.equal(result.params[k], s.params[k].detach())


def test_max_seconds_stops_the_run():
    result = meta_train(default_config("sinusoid", "fomaml", iterations=10_000), max_seconds=0.0)
    assert result.stopped_early and result.iterations_done == 1


@pytest.mark.timeout(120)
def test_resume_continues_at_the_right_iteration_and_matches_an_uninterrupted_run(tmp_path):
    config = default_config("sinusoid", "maml", iterations=30)
    state = tmp_path / "run.state"
    first = meta_train(config, checkpoint_path=state, checkpoint_every=10, resume=True, log_every=10,
                       on_step=lambda i: i.iteration != 17)
    assert first.iterations_done == 17 and state.is_file()
    seen = []
    second = meta_train(config, checkpoint_path=state, checkpoint_every=10, resume=True, log_every=10,
                        on_step=lambda i: seen.append(i.iteration))
    assert seen == list(range(18, 31)) and second.iterations_done == 30
    straight = meta_train(config, log_every=10)
    for k in straight.params:  # same RNG stream, same Adam state: the same weights
        torch.testing.assert_close(second.params[k], straight.params[k], rtol=1e-5, atol=1e-6)
    assert [h["iteration"] for h in second.history][-2:] == [20, 30]
    # a different configuration cannot resume from that state
    with pytest.raises(CheckpointError, match="different configuration"):
        meta_train(config.replace(inner_lr=0.02), checkpoint_path=state, resume=True)


def test_init_params_warm_start():
    config = default_config("sinusoid", "maml", iterations=1, meta_lr=1e-6)
    init = {k: torch.full_like(v, 0.01) for k, v in get_params(build_model(config.model)).items()}
    result = meta_train(config, init_params=init)
    for k in init:
        torch.testing.assert_close(result.params[k], init[k], atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------
# Omniglot algorithms on synthetic data (no archive)
# ---------------------------------------------------------------------------------------------

def _omniglot_config(algo: str, **over):
    base = dict(iterations=4, meta_batch=2, val_every=2, val_tasks=4, eval_steps=2)
    return default_config("omniglot", algo, **{**base, **over})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("algo", ["maml", "fomaml"])
def test_omniglot_meta_training_runs_and_validates(algo):
    data = synthetic_omniglot(n_chars=40, n_alphabets=4)
    seen: list[StepInfo] = []
    result = meta_train(_omniglot_config(algo), data=data, on_step=seen.append, log_every=2)
    assert result.iterations_done == 4
    assert set(result.data) == {"train", "val", "test"} and len(result.data["train"]) == 26
    assert [s.val is not None for s in seen] == [False, True, False, True]
    assert 0.0 <= result.best_val <= 1.0
    assert len(seen[0].accuracies) == 2 and all(0 <= a <= 1 for a in seen[0].accuracies)
    assert "val_acc" in result.history[-1] and "query_acc_last" in result.history[-1]
    assert result.params["head.weight"].shape == (5, 256)


@pytest.mark.timeout(120)
def test_learned_inner_lrs_are_meta_trained_beside_the_weights():
    """MAML++ LSLR on Omniglot (first-order): one rate per parameter tensor and training inner step, starting at
    alpha, moved by the meta-gradient; the zeroing trick still holds; the checkpoint round trip keeps them."""
    config = _omniglot_config("fomaml", inner_steps=2, learn_inner_lr=True)
    result = meta_train(config, data=synthetic_omniglot(n_chars=40, n_alphabets=4))
    rates = {k: v for k, v in result.params.items() if k.startswith("inner_lr:")}
    assert set(rates) == {"inner_lr:" + k for k, _ in result.model.named_parameters()}
    assert all(v.shape == (2,) for v in rates.values())
    moved = [k for k, v in rates.items() if not torch.allclose(v, torch.full((2,), config.inner_lr))]
    assert "inner_lr:conv1.weight" in moved or len(moved) >= 4, moved
    assert result.params["head.weight"].abs().max() == 0  # the zeroing trick is untouched
    with pytest.raises(ConfigError, match="learned inner learning rates"):
        default_config("omniglot", "transfer", learn_inner_lr=True)


def test_a_checkpoint_with_learned_rates_round_trips_and_adapts_with_them(tmp_path):
    from maml_core import LEARNED, adapt, load_checkpoint, save_checkpoint
    from maml_core.algorithm import initial_rates

    config = default_config("sinusoid", iterations=1, inner_steps=1, learn_inner_lr=True)
    params = get_params(build_model(config.model))
    params.update(initial_rates(params, 1, 0.02))
    path = save_checkpoint(tmp_path / "c.pt", config, params)
    ckpt = load_checkpoint(path)
    assert ckpt.inner_lr == LEARNED
    x, y = torch.linspace(-3, 3, 5).reshape(-1, 1), torch.sin(torch.linspace(-3, 3, 5)).reshape(-1, 1)
    learned = adapt(ckpt.model, ckpt.params, x, y, steps=2, inner_lr=LEARNED)
    plain = adapt(ckpt.model, ckpt.params, x, y, steps=2, inner_lr=0.02)
    for a, b in zip(learned, plain):
        for k in b:
            torch.testing.assert_close(a[k], b[k])
    # a file whose rates do not fit its config is refused with our message
    params["inner_lr:net.0.weight"] = torch.ones(3)
    save_checkpoint(tmp_path / "bad.pt", config, params)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "bad.pt")


def test_omniglot_accepts_a_prepared_split(omniglot_data):
    parts = {"train": omniglot_data.subset(list(range(20))), "val": omniglot_data.subset(list(range(20, 25))),
             "test": omniglot_data.subset(list(range(25, 30)))}
    result = meta_train(_omniglot_config("fomaml", iterations=2), data=parts)
    assert result.data is parts and result.iterations_done == 2


def test_omniglot_transfer_baseline():
    data = synthetic_omniglot(n_chars=40, n_alphabets=4)
    result = meta_train(_omniglot_config("transfer", iterations=3, val_every=3), data=data)
    # trained as a 4 x 26-class classifier, returned as an N-way network with a fresh zero head
    assert result.params["head.weight"].shape == (5, 256)
    assert result.params["head.weight"].abs().sum() == 0 and result.params["head.bias"].abs().sum() == 0
    assert result.model.head.out_features == 5
    assert result.best_val is not None


def test_omniglot_with_too_few_classes_raises():
    tiny = OmniglotData(torch.zeros(4, 20, 1, 28, 28, dtype=torch.uint8), tuple(f"A{i}/character01" for i in range(4)))
    with pytest.raises(DataError, match="at least 20 classes"):
        meta_train(_omniglot_config("maml", n_way=20, rotations=False), data=tiny)


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------

def test_paper_defaults():
    s = default_config("sinusoid")
    assert (s.iterations, s.meta_batch, s.inner_steps, s.inner_lr, s.meta_lr) == (70_000, 25, 1, 0.01, 0.001)
    assert s.sinusoid.k_shot == 10 and s.model.hidden == (40, 40) and not s.first_order
    o5 = default_config("omniglot", "fomaml")
    assert (o5.iterations, o5.meta_batch, o5.inner_steps, o5.inner_lr) == (60_000, 32, 1, 0.4)
    assert o5.omniglot.n_way == 5 and o5.model.n_out == 5 and o5.first_order
    o20 = default_config("omniglot", n_way=20)
    assert (o20.meta_batch, o20.inner_steps, o20.inner_lr, o20.model.n_out) == (16, 5, 0.1, 20)


def test_config_round_trip_and_frozen():
    c = default_config("omniglot", "maml", n_way=20, k_shot=5, split="alphabet", seed=3)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seed = 4  # type: ignore[misc]
    assert c.replace(seed=4).seed == 4


@pytest.mark.parametrize("problem, over, field", [
    ("sinusoid", {"iterations": 0}, "iterations"),
    ("sinusoid", {"meta_batch": 0}, "meta-batch"),
    ("sinusoid", {"inner_steps": -1}, "inner steps"),
    ("sinusoid", {"inner_steps": 101}, "inner steps"),
    ("sinusoid", {"eval_steps": -2}, "eval steps"),
    ("sinusoid", {"inner_lr": -0.1}, "inner learning rate"),
    ("sinusoid", {"inner_lr": float("nan")}, "inner learning rate"),
    ("sinusoid", {"meta_lr": 0.0}, "meta learning rate"),
    ("sinusoid", {"k_shot": 0}, "shots"),
    ("sinusoid", {"n_query": 0}, "queries"),
    ("sinusoid", {"algo": "transfer"}, "algo"),
    ("omniglot", {"algo": "pretrain"}, "algo"),
    ("omniglot", {"n_way": 1}, "ways"),
    ("omniglot", {"k_shot": 0}, "shots"),
    ("omniglot", {"k_shot": 15, "n_query": 6}, "shots \\+ queries"),
    ("omniglot", {"split": "drawer"}, "split"),
    ("mnist", {}, "problem"),
])
def test_bad_config_values_raise_config_error_naming_the_field(problem, over, field):
    with pytest.raises(ConfigError, match=field):
        default_config(problem, **over)


def test_model_outputs_must_match_ways():
    c = default_config("omniglot")
    with pytest.raises(ConfigError, match="ways"):
        c.replace(model=dataclasses.replace(c.model, n_out=20))


@pytest.mark.parametrize("head", ["zero", "shared"])
def test_the_chance_start_survives_meta_training(head):
    """The zeroing trick keeps the head at zero after every outer step; UNICORN-MAML's rows stay equal."""
    config = default_config("omniglot", "fomaml", iterations=4, meta_batch=2, val_every=100, val_tasks=4, head=head)
    seen = []
    result = meta_train(config, data=synthetic_omniglot(60), on_step=lambda i: seen.append(
        {k: v.clone() for k, v in i.params.items() if k.startswith("head.")}))
    for h in seen + [{k: v for k, v in result.params.items() if k.startswith("head.")}]:
        w, b = h["head.weight"], h["head.bias"]
        if head == "zero":
            assert not w.any() and not b.any()
        else:
            assert torch.equal(w, w[:1].expand_as(w)) and torch.equal(b, b[:1].expand_as(b))
    if head == "shared":  # ... and the shared row does learn
        assert not torch.equal(seen[0]["head.weight"], seen[-1]["head.weight"])


def test_cosine_meta_lr_and_multi_step_loss_weights():
    from maml_core.training import meta_lr_at, step_loss_weights

    c = default_config("sinusoid", "maml", iterations=100, meta_lr_schedule="cosine")
    assert meta_lr_at(c, 1) == pytest.approx(0.001)
    assert meta_lr_at(c, 51) == pytest.approx((0.001 + 0.00001) / 2)
    assert meta_lr_at(c, 100) < 0.00002
    assert meta_lr_at(c.replace(meta_lr_schedule="constant"), 100) == 0.001
    assert step_loss_weights(1, 10, 100) is None and step_loss_weights(5, 10, 0) is None
    w0 = step_loss_weights(5, 0, 100)
    torch.testing.assert_close(w0, torch.tensor([0, 0.2, 0.2, 0.2, 0.2, 0.2]))
    w_end = step_loss_weights(5, 1000, 100)  # MAML++: non-final steps keep 0.03 / S
    torch.testing.assert_close(w_end, torch.tensor([0, 0.006, 0.006, 0.006, 0.006, 0.976]))
    assert float(step_loss_weights(5, 50, 100).sum()) == pytest.approx(1.0)


def test_first_order_iterations_switch_to_second_order(monkeypatch):
    import maml_core.steps as steps

    seen = []
    real = steps.meta_loss_and_grad

    def spy(*args, **kwargs):
        seen.append(kwargs["first_order"])
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "meta_loss_and_grad", spy)
    meta_train(default_config("sinusoid", "maml", iterations=5, meta_batch=2, first_order_iterations=3))
    assert seen == [True, True, True, False, False]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("steps, learned", [(1, False), (2, True)])
def test_compiled_meta_step_equals_eager(steps, learned):
    """The compiled meta-gradient alone (what `--compile` runs for Omniglot; sinusoid runs compile their whole
    iteration, below) gives the eager meta-gradient and logged losses, for each variant it compiles: second and first
    order, tracked or not, MAML++'s step weights, learned per-step rates (slow to compile cold). With one inner step a
    tracked iteration is the untracked variant plus the start's loss: nothing more is compiled for it."""
    from maml_core import SinusoidTasks
    from maml_core.algorithm import initial_rates
    from maml_core.training import MetaStep

    config = default_config("sinusoid", "maml", inner_steps=steps, learn_inner_lr=learned)
    model = build_model(config.model, seed=0)
    params = get_params(model)
    if learned:
        params.update({k: v * torch.tensor([1.5, 0.5]) for k, v in initial_rates(params, 2, 0.01).items()})
    batch = SinusoidTasks(config.sinusoid).sample(25, torch.Generator().manual_seed(0))
    eager_step, compiled_step = MetaStep(model, config, compile=False), MetaStep(model, config, compile=True)
    weights = torch.full((steps + 1,), 1.0 / (steps + 1))
    variants = [(False, False, None), (True, True, None), (False, True, weights)]
    if steps == 1:
        variants = [(False, True, None), (True, True, None), (True, False, None)]
    for first_order, track, weights in variants[:1] if learned else variants:
        eager = eager_step(params, batch, first_order, track, weights)
        compiled = compiled_step(params, batch, first_order, track, weights)
        assert compiled_step.compiled is not None, "compilation failed here, so nothing was compared"
        torch.testing.assert_close(compiled[0], eager[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(compiled[2], eager[2], rtol=1e-5, atol=1e-6)
        assert compiled[2].shape == eager[2].shape == (2, steps + 1 if track or weights is not None else 1)
        for k in params:
            torch.testing.assert_close(compiled[1][k], eager[1][k], rtol=1e-4, atol=1e-6, msg=(k, first_order, track))
    if steps == 1:
        assert set(compiled_step.compiled.variants) == {(False, False, True), (True, False, True)}  # untracked only


@pytest.mark.timeout(900)
@pytest.mark.parametrize("options", [{}, {"first_order_iterations": 2},
                                     {"inner_steps": 2, "multi_step_loss_iterations": 4, "learn_inner_lr": True}])
def test_a_compiled_sinusoid_iteration_follows_the_eager_one(options):
    """`--compile` on sinusoid runs the tasks and their meta-gradient as one graph (`steps.CompiledDraw`: the tasks
    from the iteration's draw, then the meta-gradient; Adam outside). Run beside an eager Trainer with the same seed,
    it logs the same losses on tracked and untracked iterations and moves the weights and Adam's moments the same
    way, up to float rounding, for each variant: second order, first-order warm-up (MAML++ DA), two steps with step
    weights (MSL) and learned rates (LSLR). Few iterations: over many, rounding flips a ReLU somewhere and the runs
    drift apart."""
    config = default_config("sinusoid", "maml", iterations=6, **options)
    compiled, eager = Trainer(config, compile=True, track_every=3), Trainer(config, compile=False, track_every=3)
    assert compiled._algorithm.draw_step is not None
    while not compiled.done:
        a, b = compiled.step(), eager.step()
        assert len(a.query_losses) == len(b.query_losses) == (config.inner_steps + 1 if a.iteration in (1, 3, 6) else 1)
        torch.testing.assert_close(a.query_losses, b.query_losses, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a.meta_loss, b.meta_loss, rtol=1e-5, atol=1e-6)
    assert compiled._algorithm.draw_step.compiled.fn is not None, "compilation failed here, so nothing was compared"
    for k in eager.params:
        torch.testing.assert_close(compiled.params[k], eager.params[k], rtol=1e-5, atol=1e-6, msg=k)
    for (m, v), (m2, v2) in zip(compiled.opt.moments.values(), eager.opt.moments.values()):
        torch.testing.assert_close(m, m2, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(v, v2, rtol=1e-4, atol=1e-9)
    assert float(compiled.opt.count) == float(eager.opt.count) == 6
    assert compiled.finish().compile_seconds > 0


@pytest.mark.timeout(900)
def test_a_compiled_iteration_is_saved_once_and_loaded_by_later_runs(tmp_path, monkeypatch, caplog):
    """The compiled sinusoid iteration is saved under a key of what its graph depends on; a second run loads it instead
    of tracing it, and steps bit for bit as the run that saved it. A damaged file is traced again, with the same
    numbers up to rounding; another shape is another key."""
    import maml_core.steps as steps

    monkeypatch.setattr(steps, "_precompiled_folder", lambda: tmp_path)
    config = default_config("sinusoid", "maml", iterations=4)

    def run() -> Trainer:
        t = Trainer(config, compile=True)
        while not t.done:
            t.step()
        return t

    first = run()
    saved = list(tmp_path.glob("*.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    traced = []
    real_aot = torch._dynamo.aot_compile.aot_compile_fullgraph
    monkeypatch.setattr(torch._dynamo.aot_compile, "aot_compile_fullgraph",
                        lambda *a, **k: traced.append(1) or real_aot(*a, **k))
    second = run()
    assert not traced, "the saved iteration was compiled again instead of loaded"
    assert type(next(iter(second._algorithm.draw_step.compiled.variants.values()))).__name__ == "AOTCompiledFunction"
    for k in first.params:
        assert torch.equal(first.params[k], second.params[k]), k
    saved[0].write_bytes(b"not a compiled function")
    with caplog.at_level("INFO", logger="maml_core.steps"):
        third = run()
    assert any("no precompiled the meta-step" in r.getMessage() for r in caplog.records)
    assert third._algorithm.draw_step.compiled.fn is not None  # traced as before the precompiled form existed
    for k in first.params:
        torch.testing.assert_close(third.params[k], first.params[k], rtol=1e-5, atol=1e-7)
    key = steps._precompiled_key(steps._draw_meta_gradient, (torch.zeros(25, 3), 1))
    assert key != steps._precompiled_key(steps._draw_meta_gradient, (torch.zeros(24, 3), 1))
    assert key != steps._precompiled_key(steps._draw_meta_gradient, (torch.zeros(25, 3), 2))
    threads = torch.get_num_threads()
    try:  # a global state dynamo's guards check (a saved graph records the thread count it was traced with)
        torch.set_num_threads(threads + 1)
        assert key != steps._precompiled_key(steps._draw_meta_gradient, (torch.zeros(25, 3), 1))
    finally:
        torch.set_num_threads(threads)


def test_a_failed_compilation_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    import maml_core.steps as steps

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(steps.torch, "compile", broken)
    with caplog.at_level("WARNING", logger="maml_core.steps"):
        result = meta_train(default_config("sinusoid", "maml", iterations=3, meta_batch=2), compile=True)
    assert result.iterations_done == 3
    notes = [r.getMessage() for r in caplog.records if "torch.compile" in r.getMessage()]
    assert len(notes) == 1 and "no working C++ compiler found" in notes[0] and "\n" not in notes[0]


def test_compile_is_on_by_default_only_where_it_was_measured_to_pay():
    from maml_core.training import compile_pays

    assert compile_pays(default_config("sinusoid", "maml"))  # the paper's 70,000 iterations
    assert not compile_pays(default_config("sinusoid", "maml", iterations=300))
    assert not compile_pays(default_config("sinusoid", "pretrain"))
    assert not compile_pays(default_config("omniglot", "fomaml"))


def test_a_result_round_trips_through_its_portable_form():
    from maml_core import TrainResult

    r = meta_train(default_config("sinusoid", "maml", iterations=5, meta_batch=2))
    d = r.portable()
    assert all(v.device.type == "cpu" for v in d["params"].values())
    back = TrainResult.from_portable(r.config, d)
    assert all(torch.equal(back.params[k], r.params[k]) for k in r.params)
    assert (back.history, back.seconds, back.iterations_done, back.stopped_early, back.best_val) == \
        (r.history, r.seconds, r.iterations_done, r.stopped_early, r.best_val)
    assert type(back.model) is type(r.model)


@pytest.mark.parametrize("algo, logged", [("maml", 3), ("fomaml", 3), ("reptile", 3), ("pretrain", 1)])
def test_each_algorithm_is_one_step_class_with_a_typed_log(algo, logged):
    from maml_core.adam import Adam
    from maml_core.steps import STEPS, StepLog, make_step

    config = default_config("sinusoid", algo, iterations=4, meta_batch=2, inner_steps=2)
    model = build_model(config.model, seed=0)
    params = {k: v.requires_grad_(STEPS[algo].autograd) for k, v in get_params(model).items()}
    before = {k: v.detach().clone() for k, v in params.items()}
    step = make_step(config, model, None, torch.Generator().manual_seed(0), torch.device("cpu"))
    out = step.step(params, Adam(params, lr=config.meta_lr), 1, True)
    assert isinstance(out, StepLog) and out.accuracies is None  # regression: no accuracy to report
    assert len(out.query_losses) == logged  # steps 0..S when tracked; the baseline has no inner steps
    assert step.compile_seconds == 0.0
    assert any(not torch.equal(before[k], params[k]) for k in params)  # the step updated the weights in place


def test_an_unknown_algorithm_is_refused_by_name():
    from types import SimpleNamespace

    from maml_core.steps import step_class

    with pytest.raises(ValueError, match="unknown algorithm 'sgd'.*maml"):
        step_class(SimpleNamespace(algo="sgd"))


def test_the_transfer_baseline_and_the_episodes_share_one_rotation_class_mapping():
    from maml_core.omniglot import class_images

    images = torch.rand(3, 20, 1, 28, 28)
    classes = torch.tensor([1, 3, 7, 11])  # character c % 3, turned c // 3 quarter turns
    draws = torch.tensor([5, 6, 7, 8])
    expected = torch.stack([images[1, 5], images[0, 6].rot90(1, (-2, -1)), images[1, 7].rot90(2, (-2, -1)),
                            images[2, 8].rot90(3, (-2, -1))])
    assert torch.equal(class_images(images, classes, draws), expected)  # one drawing per class (transfer)
    episode = class_images(images, classes[None], torch.stack([draws, draws])[None].transpose(1, 2))  # (1, 4, 2)
    assert episode.shape == (1, 4, 2, 1, 28, 28) and torch.equal(episode[0, :, 0], expected)  # K+Q per class
