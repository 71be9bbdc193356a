"""maml_core.cli, in-process (`main([...])`) and once as `python -m maml_core`: help, one-line errors
with exit code 2 and no traceback, and a tiny train -> evaluate round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from maml_core import load_checkpoint
from maml_core.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m maml_core ARGV`, in-process."""
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse (--help, bad flags)
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_module_help_in_a_subprocess():
    r = subprocess.run([sys.executable, "-m", "maml_core", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "train" in r.stdout and "evaluate" in r.stdout and "download" in r.stdout
    assert "MAML" in r.stdout


def test_train_help_gives_paper_symbols_and_defaults(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    for symbol in ("alpha: inner", "beta: outer", "K: support", "N in N-way"):
        assert symbol in text, symbol
    for default in ("(default: sinusoid 70000, omniglot 60000)", "(default: sinusoid 25, omniglot 5-way 32, 20-way 16)",
                    "(default: sinusoid 10, omniglot 1)", "(default: 0.001)", "(default: 600)", "(default: 0)"):
        assert default in text, default
    assert "default: None" not in text


def test_evaluate_help(capsys):
    code, out, _ = run(capsys, "evaluate", "--help")
    assert code == 0 and "(paper: 600)" in " ".join(out.split())


@pytest.mark.parametrize("argv, message", [
    (["train"], "required"),
    (["train", "mnist", "--out", "x.pt"], "invalid choice"),
    (["train", "sinusoid", "--bogus", "--out", "x.pt"], "unrecognized arguments"),
    (["train", "sinusoid", "--iterations", "abc", "--out", "x.pt"], "invalid int value"),
    (["train", "sinusoid"], "--out"),
    (["evaluate"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_argparse_errors_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "error:" in err and message in err
    assert "Traceback" not in err + out


@pytest.fixture
def tmp_out(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["train", "sinusoid", "--iterations", "-5", "--out", "{tmp}/x.pt"], "--iterations must not be negative"),
    (["train", "sinusoid", "--inner-lr", "-1", "--out", "{tmp}/x.pt"], "--inner-lr must not be negative"),
    (["train", "sinusoid", "--iterations", "0", "--out", "{tmp}/x.pt"], "iterations must be at least 1"),
    (["train", "sinusoid", "--inner-steps", "500", "--out", "{tmp}/x.pt"], "inner steps must be between"),
    (["train", "sinusoid", "--algo", "transfer", "--out", "{tmp}/x.pt"], "not available for sinusoid"),
    (["train", "omniglot", "--algo", "pretrain", "--out", "{tmp}/x.pt"], "not available for omniglot"),
    (["train", "sinusoid", "--ways", "5", "--out", "{tmp}/x.pt"], "--ways applies to omniglot only"),
    (["train", "omniglot", "--ways", "1", "--data-dir", "{tmp}", "--out", "{tmp}/x.pt"], "ways must be at least 2"),
    (["train", "omniglot", "--data-dir", "{tmp}/no_data", "--out", "{tmp}/x.pt"], "no Omniglot archive in"),
    (["train", "sinusoid", "--init", "{tmp}/missing.pt", "--out", "{tmp}/x.pt"], "no checkpoint at"),
    (["train", "sinusoid", "--out", "{tmp}/a_file/x.pt"], "cannot create the folder"),
    (["train", "sinusoid", "--out", "{tmp}"], "is a folder"),
    (["train", "sinusoid", "--algo", "pretrain", "--learn-inner-lr", "--out", "{tmp}/x.pt"],
     "learned inner learning rates are for maml and fomaml"),
    (["train", "sinusoid", "--learn-inner-lr", "--select-lrs", "0.01", "0.02", "--out", "{tmp}/x.pt"],
     "drop one of the two"),
    (["evaluate", "{tmp}/missing.pt"], "no checkpoint at"),
    (["evaluate", "{tmp}/a_file"], "not a readable checkpoint"),
    (["evaluate", "{tmp}"], "is a folder"),
])
def test_bad_values_and_paths_give_one_error_line_and_exit_2(capsys, tmp_out, argv, message):
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_out)) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "Traceback" not in err + out
    assert not (tmp_out / "x.pt").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny sinusoid checkpoint written by the CLI (run once for the tests below)."""
    out = tmp_path_factory.mktemp("cli") / "models" / "s.pt"
    code = main(["train", "sinusoid", "--iterations", "50", "--eval-tasks", "20", "--out", str(out),
                 "--json", str(out.with_suffix(".json"))])
    assert code == 0
    return out


@pytest.mark.timeout(180)
def test_train_writes_a_loadable_self_describing_checkpoint(trained):
    ckpt = load_checkpoint(trained)
    assert ckpt.info["command"] == (f"python -m maml_core train sinusoid --iterations 50 --eval-tasks 20 "
                                    f"--out {trained} --json {trained.with_suffix('.json')}")
    assert ckpt.info["iteration"] == 50 and ckpt.config.iterations == 50 and ckpt.config.algo == "maml"
    h = ckpt.metrics.headline
    assert h.metric == "mse" and h.tasks == 20 and h.value > 0
    assert set(ckpt.metrics.curves) == {"test_k5", "test_k10"}
    assert ckpt.inner_lr == 0.01 and 0 <= ckpt.eval_steps <= 10
    summary = json.loads(trained.with_suffix(".json").read_text())
    assert summary["info"]["command"] == ckpt.info["command"]
    assert not trained.with_name("s.pt.tmp").exists()


@pytest.mark.timeout(120)
def test_evaluate_prints_a_table_and_writes_json(trained, capsys, tmp_path):
    capsys.readouterr()
    out_json = tmp_path / "deeper" / "curves.json"
    code, out, err = run(capsys, "evaluate", str(trained), "--tasks", "30", "--steps", "3", "--json", str(out_json))
    assert code == 0, err
    assert "MAML on sinusoid K=10, 50 iterations" in out
    assert "query MSE over 30 tasks" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    curves = json.loads(out_json.read_text())
    assert curves["steps"] == 3 and curves["tasks"] == 30 and len(curves["query_loss"][0]) == 4
    assert curves["query_acc"] is None
    assert float(rows[3][2]) == pytest.approx(curves["query_loss"][0][3], abs=1e-3)


def test_evaluate_bad_task_count(trained, capsys):
    capsys.readouterr()
    code, _, err = run(capsys, "evaluate", str(trained), "--tasks", "0")
    assert code == 2 and err.startswith("error: --tasks must be at least 1")



@pytest.mark.parametrize("device", ["cuda", "nonsense"])
def test_unusable_device_is_a_one_line_error(capsys, tmp_path, device):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run(capsys, "train", "sinusoid", "--iterations", "2", "--device", device,
                       "--out", str(tmp_path / "s.pt"))
    assert code == 2 and err.startswith(f"error: --device {device} cannot be used here") and "Traceback" not in err


@pytest.mark.timeout(180)
def test_learned_inner_lrs_train_save_and_evaluate(tmp_path, capsys):
    """--learn-inner-lr (MAML++ LSLR): the rates are trained beside the weights, saved in the checkpoint, and the
    test uses them (the checkpoint's inner lr reads "learned")."""
    out = tmp_path / "lslr.pt"
    code, _, err = run(capsys, "train", "sinusoid", "--iterations", "30", "--inner-steps", "2", "--learn-inner-lr",
                       "--eval-tasks", "20", "--out", str(out))
    assert code == 0, err
    ckpt = load_checkpoint(out)
    assert ckpt.config.learn_inner_lr and ckpt.inner_lr == "learned" and ckpt.metrics.headline.inner_lr == "learned"
    rates = {k: v for k, v in ckpt.params.items() if k.startswith("inner_lr:")}
    assert set(rates) == {"inner_lr:" + k for k, _ in ckpt.model.named_parameters()}
    assert all(v.shape == (2,) for v in rates.values())
    assert any(not torch.allclose(v, torch.full((2,), 0.01)) for v in rates.values())  # they were trained
    code, stdout, err = run(capsys, "evaluate", str(out), "--tasks", "20", "--steps", "3")
    assert code == 0, err
    assert "inner lr learned" in stdout


@pytest.mark.timeout(180)
def test_eval_tasks_0_trains_skips_evaluation_and_the_checkpoint_says_it_has_no_held_out_metrics(tmp_path, capsys):
    out = tmp_path / "s.pt"
    code, stdout, err = run(capsys, "train", "sinusoid", "--iterations", "5", "--eval-tasks", "0", "--out", str(out))
    assert code == 0, err
    assert "Traceback" not in err + stdout
    assert "no held-out metrics (--eval-tasks 0)" in stdout and f"python -m maml_core evaluate {out}" in stdout
    ckpt = load_checkpoint(out)
    assert ckpt.info["iteration"] == 5 and ckpt.info["eval_tasks"] == 0
    assert ckpt.metrics.headline is None and ckpt.metrics.curves == {} and ckpt.held_out() is None
    assert ckpt.metrics.inner_lr is None and ckpt.inner_lr == 0.01  # no settings chosen: the training alpha
    code, stdout, err = run(capsys, "evaluate", str(out), "--tasks", "10", "--steps", "2")  # evaluable later
    assert code == 0, err


def test_evaluate_a_text_file_says_it_is_not_a_pytorch_file(capsys):
    code, out, err = run(capsys, "evaluate", str(ROOT / "README.md"))
    assert code == 2 and "Traceback" not in err + out
    line = err.strip()
    assert "\n" not in line
    assert "is a text file (it begins '# MAML, visible')" in line and "not a PyTorch file" in line
    assert "Python objects" not in line  # what it used to say, which is not what is wrong with it
    assert "python -m maml_core train" in line  # what to do


def test_an_eager_sinusoid_run_and_its_evaluation_do_not_import_the_compiler(tmp_path):
    """torch._dynamo and sympy take about a second to import: an eager sinusoid run, its held-out evaluation and
    `evaluate` need neither (the MLP's tasks form uses plain autograd; torch.func's transforms would import them)."""
    probe = ("import sys\nfrom maml_core.cli import main\n"
             "print('exit', main(sys.argv[1:]), 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)\n")
    out_path = str(tmp_path / "m.pt")
    for argv in (["train", "sinusoid", "--iterations", "12", "--eval-tasks", "20", "--out", out_path],
                 ["evaluate", out_path, "--tasks", "20"]):
        out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True)
        assert out.stdout.strip().splitlines()[-1] == "exit 0 False False", (argv, out.stdout[-300:], out.stderr[-500:])


def test_help_and_a_wrong_flag_answer_without_importing_torch():
    """--help and usage errors come before the engine is imported (torch takes seconds to import)."""
    probe = ("import runpy, sys\n"
             "try:\n    runpy.run_module('maml_core', run_name='__main__')\nexcept SystemExit as e:\n"
             "    print('exit', e.code, 'torch' in sys.modules)\n")
    for argv, code in ((["--help"], 0), (["train", "sinusoid"], 2), (["train", "--help"], 0)):
        out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True)
        assert out.stdout.strip().splitlines()[-1] == f"exit {code} False", (argv, out.stdout[-300:], out.stderr[-300:])
    import maml_core

    assert maml_core.adapt is maml_core.algorithm.adapt and "adapt" in dir(maml_core)  # the names still resolve
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        maml_core.nonsense  # noqa: B018
