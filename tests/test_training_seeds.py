"""maml_core.training: a seed reproduces the same run bit for bit, and a Trainer never touches torch's global RNG.

The digests were recorded on the code before the trainer owned its randomness (when `Trainer.__init__` seeded the
global generator): a refactoring that changes any of them changes what the shipped checkpoints' seeds produce.
Sinusoid MAML and FO-MAML were recorded again when their eager meta-gradient took the MLP's `tasks_forward` (equal
up to float rounding); their `vmap` form still gives the first digests (`VMAP_FORM`). The shipped sinusoid
checkpoints were trained with `--compile` when it traced that form; it now traces the tasks form (with products as
multiply-and-sum), so their recorded commands give the same protocol with other float rounding.

The Omniglot runs round differently on CPUs with other vector units (torch picks its float kernels by CPU): their
first digests were recorded on the earlier sessions' machines, and an AMD EPYC with AVX2 alone (torch's CPU
capability "AVX2") gives others, the same on every run there. Each run keeps every digest seen for it; a change to
the code changes them all."""

from __future__ import annotations

import hashlib

import pytest
import torch
from conftest import synthetic_omniglot

from maml_core import SinusoidMLP, Trainer, default_config, meta_train

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")

_OMNIGLOT = dict(meta_batch=2, val_every=25, val_tasks=4, eval_steps=2)
# sha256 (first 16 hex digits) of every final tensor, by name, after 50 iterations with seed 3 on one thread
DIGESTS = {
    ("sinusoid", "maml"): "5bd8b429fa5c357a",
    ("sinusoid", "fomaml"): "42ff9ef0aa040119",
    ("sinusoid", "reptile"): "53f97c7988e67a87",
    ("sinusoid", "pretrain"): "82db665246a0d011",
    ("omniglot", "maml"): "7a38dad4bac36fc5",
    ("omniglot", "fomaml"): "0f234a665917663c",
    ("omniglot", "transfer"): "794c8172676118e3",
}
AVX2_ONLY = {  # the same runs on an AMD EPYC with AVX2 and no AVX-512
    ("omniglot", "maml"): "9296054466923c4e",
    ("omniglot", "fomaml"): "2549c90d22756398",
    ("omniglot", "transfer"): "7110015791a5d946",
}
VMAP_FORM = {("sinusoid", "maml"): "aa242b0d73e58be6", ("sinusoid", "fomaml"): "d51bf74d7d18156d"}


def recorded(problem: str, algo: str) -> set[str]:
    """Every digest recorded for this run (one per kind of CPU whose kernels round it differently)."""
    return {DIGESTS[problem, algo], AVX2_ONLY.get((problem, algo))} - {None}


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-identical float sums need the same reduction order: one intra-op thread, whatever the suite uses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(problem: str, algo: str):
    return default_config(problem, algo, iterations=50, seed=3, **(_OMNIGLOT if problem == "omniglot" else {}))


def _data(problem: str):
    return synthetic_omniglot(n_chars=40, n_alphabets=4) if problem == "omniglot" else None


def digest(params: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(params):
        h.update(name.encode())
        h.update(params[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("problem, algo", list(DIGESTS))
def test_fifty_seeded_iterations_are_bit_identical_to_the_recorded_run(problem, algo):
    result = meta_train(_config(problem, algo), data=_data(problem))
    assert result.iterations_done == 50
    assert digest(result.params) in recorded(problem, algo)


@pytest.mark.parametrize("problem, algo", list(VMAP_FORM))
def test_the_vmap_form_still_gives_the_first_recorded_run(monkeypatch, problem, algo):
    monkeypatch.delattr(SinusoidMLP, "tasks_forward")
    assert digest(meta_train(_config(problem, algo)).params) == VMAP_FORM[problem, algo]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("problem, algo", [("sinusoid", "maml"), ("sinusoid", "reptile"), ("omniglot", "transfer")])
def test_a_resumed_run_is_bit_identical_and_leaves_the_global_rng_alone(tmp_path, problem, algo):
    config, data, path = _config(problem, algo), _data(problem), tmp_path / "run.state"
    torch.manual_seed(12345)
    expected = torch.get_rng_state()
    first = meta_train(config, data=data, checkpoint_path=path, on_step=lambda i: i.iteration != 20)
    assert first.iterations_done == 20
    assert torch.equal(torch.get_rng_state(), expected)
    trainer = Trainer(config, data=data, checkpoint_path=path, resume=True)  # restores the sampling generator
    assert trainer.iteration == 20
    assert torch.equal(torch.get_rng_state(), expected)
    while not trainer.done:
        trainer.step()
    assert torch.equal(torch.get_rng_state(), expected)
    assert digest(trainer.finish().params) in recorded(problem, algo)
    assert torch.equal(torch.get_rng_state(), expected)


def test_seeded_runs_do_not_depend_on_the_global_rng():
    config = default_config("sinusoid", "maml", iterations=3, seed=5)
    torch.manual_seed(0)
    a = meta_train(config).params
    torch.manual_seed(1)
    torch.rand(7)
    b = meta_train(config).params
    assert digest(a) == digest(b)
