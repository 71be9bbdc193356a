"""Command line: `python -m maml_core train|evaluate|download ...`. Thin: parses flags and calls
library functions; prints a summary table; errors are one line and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ALGORITHMS, EVAL_SEED, HEADS, NORMS, ConfigError, default_config

if TYPE_CHECKING:
    from .checkpoints import Metrics
    from .evaluation import Curves
# The engine (and torch) is imported once the flags are parsed: --help and a wrong flag answer at once.

DEFAULT_DATA_DIR = "data/omniglot"


class UsageError(Exception):
    pass


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows argparse's own defaults, except None (the flag then takes the config's, written in its help)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _default(field: str | Any, *, sinusoid: bool = True) -> str:
    """' (default: ...)' for a flag, read from `default_config` for each problem (and 20-way Omniglot)."""
    get = field if callable(field) else (lambda c: getattr(c, field))
    cases = {"omniglot 5-way": default_config("omniglot"), "20-way": default_config("omniglot", n_way=20)}
    if sinusoid:
        cases = {"sinusoid": default_config("sinusoid"), **cases}
    values = {name: get(c) for name, c in cases.items()}
    if len(set(map(str, values.values()))) == 1:
        return f" (default: {next(iter(values.values()))})"
    if values["omniglot 5-way"] == values["20-way"]:
        values = {("omniglot" if k == "omniglot 5-way" else k): v for k, v in values.items() if k != "20-way"}
    return " (default: " + ", ".join(f"{k} {v}" for k, v in values.items()) + ")"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m maml_core",
                                description="Meta-train and evaluate MAML / FO-MAML (Finn et al., ICML 2017).")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="meta-train a model and write a self-describing checkpoint",
                       formatter_class=_Help,
                       description="Every default below comes from maml_core.config.default_config: the paper's "
                       "values for each problem, and the measured choices where the paper is silent.")
    t.add_argument("problem", choices=["sinusoid", "omniglot"], help="task family")
    t.add_argument("--algo", default="maml", choices=["maml", "fomaml", "reptile", "pretrain", "transfer"],
                   help="maml (second-order), fomaml (first-order), reptile (sinusoid: k SGD steps per task, then "
                        "theta += epsilon (phi - theta); Nichol et al. 2018), pretrain (sinusoid baseline: one net on "
                        "all tasks), transfer (Omniglot baseline: a classifier on the training classes)")
    t.add_argument("--iterations", type=int, help="meta-training iterations (outer updates)" + _default("iterations"))
    t.add_argument("--meta-batch", type=int, help="tasks per meta-update (meta-batch size)" + _default("meta_batch"))
    t.add_argument("--shots", type=int, help="K: support examples per class (sinusoid: points per task)"
                   + _default(lambda c: c.sinusoid.k_shot if c.problem == "sinusoid" else c.omniglot.k_shot))
    t.add_argument("--ways", type=int, help="N in N-way classification (omniglot only; the other defaults "
                   "follow it)" + _default(lambda c: default_config("omniglot").omniglot.n_way, sinusoid=False))
    t.add_argument("--queries", type=int, help="Q: query examples per class during training"
                   + _default(lambda c: (c.sinusoid if c.problem == "sinusoid" else c.omniglot).n_query))
    t.add_argument("--inner-steps", type=int,
                   help="inner gradient steps during meta-training" + _default("inner_steps"))
    t.add_argument("--inner-lr", type=float, help="alpha: inner (adaptation) learning rate" + _default("inner_lr"))
    t.add_argument("--meta-lr", type=float, help="beta: outer (meta) learning rate, Adam" + _default("meta_lr"))
    t.add_argument("--outer-step", type=float, help="reptile: epsilon, the outer step, annealed linearly to 0"
                   + _default("outer_step"))
    t.add_argument("--eval-steps", type=int, help="inner steps at test time (the most tried on validation)"
                   + _default("eval_steps"))
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--split", choices=["character", "alphabet"], default="character",
                   help="omniglot: hold out characters (paper) or whole alphabets (harder)")
    t.add_argument("--norm", choices=list(NORMS),
                   help="omniglot: normalisation (tasknorm_i: TaskNorm-I, Bronskill et al. 2020; transductive_bn: the "
                        "paper's batch norm, for comparison only)" + _default(lambda c: c.model.norm, sinusoid=False))
    t.add_argument("--head", choices=list(HEADS),
                   help="omniglot: zero (zeroing trick, Kao et al. 2022), shared (UNICORN-MAML, Ye & Chao 2022) or "
                        "learned (the paper)" + _default(lambda c: c.model.head, sinusoid=False))
    t.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="omniglot: random affine distortions of training images (Koch et al. 2015)"
                   + _default(lambda c: "on" if c.omniglot.augment else "off", sinusoid=False))
    t.add_argument("--meta-lr-schedule", choices=["constant", "cosine"],
                   help="beta over the run: constant, or cosine-annealed to beta/100 (MAML++)"
                   + _default("meta_lr_schedule"))
    t.add_argument("--first-order-iterations", type=int,
                   help="maml: run first-order for this many iterations, then second-order (MAML++)"
                   + _default("first_order_iterations"))
    t.add_argument("--multi-step-loss-iterations", type=int,
                   help="weigh every inner step's query loss, annealed to the last step over this many iterations "
                        "(MAML++; 0: off)" + _default("multi_step_loss_iterations"))
    t.add_argument("--learn-inner-lr", action=argparse.BooleanOptionalAction,
                   help="maml/fomaml: meta-learn one inner learning rate per parameter tensor and inner step, "
                        "starting at --inner-lr (MAML++ LSLR); the test then uses the learned rates"
                   + _default(lambda c: "on" if c.learn_inner_lr else "off"))
    t.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with the Omniglot zip archives")
    t.add_argument("--download", action="store_true", help="download the full Omniglot archives if none are found")
    t.add_argument("--init", help="start from this checkpoint's weights (e.g. a first-order warm-up)")
    t.add_argument("--val-every", type=int, help="omniglot: iterations between validation checks (model selection)"
                   + _default("val_every", sinusoid=False))
    t.add_argument("--select-lrs", type=float, nargs="+",
                   help="test-time inner learning rates to choose from on validation data "
                        "(default: the training alpha)")
    t.add_argument("--resume", action="store_true", help="continue from OUT.state if it exists")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="run MAML/FO-MAML through torch.compile (sinusoid: the tasks and meta-gradient; Omniglot: the "
                        "meta-step): the same numbers up to float rounding, faster; compiling is slow the first time, "
                        "then cached (docs/SPEED.md; default: on for sinusoid runs of 5000+ iterations, where it was "
                        "measured to pay; off otherwise)")
    t.add_argument("--device", default="cpu", help="where to compute, e.g. cuda (tasks are sampled on the CPU either "
                   "way, with the same seed, and the checkpoint is written for the CPU)")
    t.add_argument("--threads", type=int, help="CPU threads for torch (default: 1 for sinusoid, whose tiny tensors "
                   "run slower with two threads on a busy 2-core machine; torch's own choice for omniglot)")
    t.add_argument("--max-minutes", type=float, help="stop after this many minutes (resumable with --resume)")
    t.add_argument("--eval-tasks", type=int, default=600, help="held-out tasks for the recorded metrics")
    t.add_argument("--out", required=True, help="checkpoint path to write (e.g. assets/sinusoid_maml.pt)")
    t.add_argument("--json", help="also write the summary as JSON here")

    e = sub.add_parser("evaluate", help="adaptation curves of a checkpoint on held-out tasks",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("checkpoint", help="a checkpoint written by `train`")
    e.add_argument("--tasks", type=int, default=600, help="tasks to average over (paper: 600)")
    e.add_argument("--steps", type=int, help="inner steps 0..S (default: the checkpoint's eval steps)")
    e.add_argument("--inner-lr", type=float, help="alpha at test time (default: the checkpoint's)")
    e.add_argument("--shots", type=int, help="K at test time (default: the training K)")
    e.add_argument("--ways", type=int, help="N at test time (omniglot; must match the checkpoint's head)")
    e.add_argument("--split", choices=["val", "test"], default="test", help="omniglot: which held-out characters")
    e.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with the Omniglot zip archives")
    e.add_argument("--seed", type=int, default=EVAL_SEED, help="task sampling seed")
    e.add_argument("--json", help="also write the curves as JSON here")

    d = sub.add_parser("download", help="download the full Omniglot archives (md5-checked)")
    d.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="where to put the archives")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from .checkpoints import CheckpointError
    from .omniglot import DataError, download

    try:
        if args.command == "train":
            return _train(args, argv)
        if args.command == "evaluate":
            return _evaluate(args)
        paths = download(args.data_dir)
        print("\n".join(f"ok  {p}" for p in paths))
        return 0
    except (UsageError, ConfigError, CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path that cannot be read or written
        print(f"error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _check_positive(**values: Any) -> None:
    for name, v in values.items():
        if v is not None and v < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative, got {v}")


def _check_device(device: str) -> None:
    import torch

    from .checkpoints import first_line

    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as e:
        raise UsageError(f"--device {device} cannot be used here ({first_line(e)}): use --device cpu, or a machine "
                         "that has this device") from e


def _check_writable(flag: str, value: str | None) -> None:
    """Fail before a long run, not after it, if an output path cannot be written."""
    if value is None:
        return
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{flag} {value} is a folder: give a file name, e.g. {path / 'model.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag} {value}: cannot create the folder {path.parent} ({e.strerror}); "
                         "choose another path") from e
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"{flag} {value}: the folder {path.parent} is not writable; choose another path")


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from tqdm import tqdm

    from .checkpoints import Metrics, load_checkpoint, save_checkpoint
    from .omniglot import load_omniglot, split
    from .training import meta_train

    _check_writable("--out", args.out)
    _check_writable("--json", args.json)
    _check_device(args.device)
    _check_positive(threads=args.threads)
    threads = args.threads or (1 if args.problem == "sinusoid" else None)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if args.algo not in ALGORITHMS[args.problem]:
        raise UsageError(f"--algo {args.algo} is not available for {args.problem}: "
                         f"choose {', '.join(ALGORITHMS[args.problem])}")
    if args.problem == "sinusoid" and args.ways is not None:
        raise UsageError("--ways applies to omniglot only")
    if args.learn_inner_lr and args.select_lrs:
        raise UsageError("--select-lrs chooses one alpha for the test; with --learn-inner-lr the test uses the learned "
                         "rates: drop one of the two")
    _check_positive(iterations=args.iterations, meta_batch=args.meta_batch, shots=args.shots,
                    inner_lr=args.inner_lr, meta_lr=args.meta_lr, eval_tasks=args.eval_tasks)
    over = {k: v for k, v in dict(
        iterations=args.iterations, meta_batch=args.meta_batch, k_shot=args.shots, n_query=args.queries,
        inner_steps=args.inner_steps, inner_lr=args.inner_lr, meta_lr=args.meta_lr, eval_steps=args.eval_steps,
        val_every=args.val_every, seed=args.seed, meta_lr_schedule=args.meta_lr_schedule,
        first_order_iterations=args.first_order_iterations,
        multi_step_loss_iterations=args.multi_step_loss_iterations,
        learn_inner_lr=args.learn_inner_lr, outer_step=args.outer_step).items() if v is not None}
    if args.problem == "omniglot":
        over.update(data_dir=args.data_dir, split=args.split)
        over.update({k: v for k, v in dict(norm=args.norm, head=args.head, augment=args.augment).items()
                     if v is not None})
        if args.ways is not None:
            over["n_way"] = args.ways
    config = default_config(args.problem, args.algo, **over)
    data = None
    if args.problem == "omniglot":
        data = split(load_omniglot(args.data_dir, download_missing=args.download), config.omniglot)
    init = load_checkpoint(args.init).params if args.init else None
    out = Path(args.out)
    state = out.with_name(out.name + ".state")
    bar = tqdm(total=config.iterations, desc=f"{args.problem} {args.algo}", unit="it", dynamic_ncols=True,
               mininterval=1.0 if sys.stderr.isatty() else 30.0)

    def on_step(info):
        bar.update(info.iteration - bar.n)
        if info.iteration % 50 == 0 or info.val:
            post = {"loss": f"{info.meta_loss:.3f}"}
            if info.accuracies:
                post["acc"] = f"{info.accuracies[-1]:.3f}"
            if info.val:
                post["val"] = f"{info.val['val_acc']:.3f}"
            bar.set_postfix(post, refresh=False)

    from .training import compile_pays

    compile = compile_pays(config) if args.compile is None else args.compile
    if compile and args.algo in ("maml", "fomaml"):
        print("compiling the meta-step with torch.compile (slow the first time, then cached: docs/SPEED.md; "
              "--no-compile skips it)", file=sys.stderr)
    started = time.time()
    result = meta_train(config, on_step=on_step, data=data, init_params=init, checkpoint_path=state,
                        checkpoint_every=500 if args.problem == "omniglot" else 5000, resume=args.resume,
                        max_seconds=args.max_minutes * 60 if args.max_minutes else None, device=args.device,
                        compile=compile)
    bar.close()
    if result.stopped_early:
        print(f"stopped at iteration {result.iterations_done}/{config.iterations} after "
              f"{result.seconds / 60:.1f} min; the state is in {state}: rerun with --resume to continue")
        return 0

    params = result.params
    curves: dict[str, Curves] = {}
    if args.eval_tasks == 0:  # asked for no evaluation: the checkpoint records no held-out metrics, nor settings
        metrics = Metrics(history=result.history, best_val=result.best_val)
    else:
        metrics, curves = _held_out(args, config, result)
    info = {"command": "python -m maml_core " + " ".join(shlex.quote(a) for a in argv),
            "training_seconds": round(result.seconds, 3), "compile_seconds": round(result.compile_seconds, 3),
            "iteration": result.iterations_done, "eval_tasks": args.eval_tasks,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "wall_seconds_total": round(time.time() - started, 1),
            "init": args.init, "data": [args.data_dir] if args.problem == "omniglot" else None,
            "characters": {k: len(v) for k, v in result.data.items()} if result.data else None}
    save_checkpoint(out, config, params, metrics=metrics, info=info)
    _print_summary(out, config, metrics, info, curves)
    if args.json:
        Path(args.json).write_text(json.dumps({"metrics": metrics.to_dict(), "info": info}, indent=1))
    return 0


def _held_out(args: argparse.Namespace, config, result) -> tuple[Metrics, dict[str, Curves]]:
    """Test-time settings chosen on validation tasks, then adaptation curves on `--eval-tasks` test tasks."""
    from .algorithm import LEARNED
    from .checkpoints import Headline, Metrics
    from .evaluation import adaptation_curves, choose_test_settings, task_sampler

    model, params = result.model, result.params
    on_device = {k: v.to(args.device) for k, v in params.items()}  # evaluate where we trained
    val_data = result.data["val"] if result.data else None
    test_data = result.data["test"] if result.data else None
    lrs = [LEARNED] if config.learn_inner_lr else args.select_lrs or [config.inner_lr]
    max_steps = config.eval_steps
    lr, steps, table = choose_test_settings(model, on_device, task_sampler(config, val_data), lrs=lrs,
                                            max_steps=max_steps, tasks=200)
    curves: dict[str, Curves] = {}
    shots = [5, 10] if args.problem == "sinusoid" else [config.omniglot.k_shot]
    for k in shots:
        curves[f"test_k{k}"] = adaptation_curves(model, on_device, task_sampler(config, test_data, k_shot=k),
                                                 tasks=args.eval_tasks, steps=max(10, steps), inner_lr=lr)
    train_k = config.sinusoid.k_shot if args.problem == "sinusoid" else config.omniglot.k_shot
    main_curve = curves[f"test_k{train_k}"]
    value, ci = main_curve.headline(steps)
    metrics = Metrics(
        inner_lr=lr, eval_steps=steps, selection={"lrs": lrs, "val_scores": table, "val_tasks": 200},
        headline=Headline("accuracy" if main_curve.classification else "mse", value, ci, steps, lr,
                          args.eval_tasks, EVAL_SEED, "test", train_k),
        curves={k: c.to_dict() for k, c in curves.items()}, history=result.history, best_val=result.best_val)
    return metrics, curves


def _print_summary(out, config, metrics: Metrics, info, curves: dict[str, Curves]) -> None:
    print(f"\nwrote {out}  ({config.algo}, {config.problem}, {info['iteration']} iterations, "
          f"{info['training_seconds'] / 60:.1f} min"
          + (f", of which {info['compile_seconds']:.1f} s compiling)" if info.get("compile_seconds")
             else ")"))
    if metrics.headline is None:
        print(f"no held-out metrics (--eval-tasks 0): evaluate it with `python -m maml_core evaluate {out}`")
        return
    unit = "accuracy" if metrics.headline.metric == "accuracy" else "query MSE"
    n = metrics.eval_steps
    print(f"test-time settings chosen on validation: inner lr {metrics.inner_lr}, {n} step{'' if n == 1 else 's'}")
    for name, c in curves.items():
        _print_curve(name, c, unit)


def _print_curve(name: str, c: Curves, unit: str) -> None:
    mean, ci = c.query_acc if c.classification else c.query_loss
    print(f"\n{name}: {unit} over {c.tasks} tasks (mean ± 95% CI), inner lr {c.inner_lr}")
    print(f"{'step':>5} {'support loss':>14} {unit:>20}")
    for s in range(c.steps + 1):
        fmt = f"{100 * mean[s]:.2f}% ± {100 * ci[s]:.2f}" if c.classification else f"{mean[s]:.3f} ± {ci[s]:.3f}"
        print(f"{s:>5} {c.support_loss[0][s]:>14.4f} {fmt:>20}")


def _evaluate(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .evaluation import adaptation_curves, task_sampler
    from .omniglot import load_omniglot, split

    _check_writable("--json", args.json)
    ckpt = load_checkpoint(args.checkpoint)
    c = ckpt.config
    _check_positive(tasks=args.tasks, steps=args.steps, inner_lr=args.inner_lr, shots=args.shots)
    if args.tasks < 1:
        raise UsageError("--tasks must be at least 1")
    if args.ways is not None and args.ways != c.model.n_out and c.problem == "omniglot":
        raise UsageError(f"this checkpoint classifies {c.model.n_out} ways; --ways {args.ways} needs a model "
                         f"trained for {args.ways} ways")
    data = None
    if c.problem == "omniglot":
        data = split(load_omniglot(args.data_dir), c.omniglot)[args.split]
    sampler = task_sampler(c, data, k_shot=args.shots)
    steps = ckpt.eval_steps if args.steps is None else args.steps
    lr = ckpt.inner_lr if args.inner_lr is None else args.inner_lr
    curves = adaptation_curves(ckpt.model, ckpt.params, sampler, tasks=args.tasks, steps=steps, inner_lr=lr,
                               seed=args.seed)
    print(ckpt.describe())
    k = args.shots or (c.omniglot.k_shot if c.problem == "omniglot" else c.sinusoid.k_shot)
    _print_curve(f"{args.split if c.problem == 'omniglot' else 'held-out tasks'}, K={k}", curves,
                 "accuracy" if curves.classification else "query MSE")
    if args.json:
        Path(args.json).write_text(json.dumps(curves.to_dict(), indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
