"""Whole-process speed of `python -m maml_core train` against whole processes of the reference loops. Prints
figures; not a test.

    python -m benchmarks.bench_cli                     # 1,500 iterations, 2 rounds (about 5 minutes)
    python -m benchmarks.bench_cli --rounds 1 --iterations 300

Every run is a process of its own, timed from launch to exit (wall clock: interpreter start, imports, training,
writing the weights). All do the paper's sinusoid protocol (meta-batch 25, K = 10 support + 10 query points, one
second-order inner step with alpha = 0.01, Adam with beta = 0.001, seed 0, one torch thread, as the CLI sets for
sinusoid) with evaluation off, and draw the same tasks from the same seeded generator each iteration:

- ours:   `python -m maml_core train sinusoid --iterations N --eval-tasks 0 --out ...` (it also logs the query
          loss after every inner step on every 10th iteration, and writes a training state beside the checkpoint);
- loop:   `python -m benchmarks.bench_cli --reference loop`: the meta-gradient by a plain per-task loop with
          `autograd.grad(create_graph=True)` (`bench_engine.FixedBatchIteration.loop`), then Adam; weights saved;
- higher: `python -m benchmarks.bench_cli --reference higher`: the `higher` library's recipe
          (`bench_engine.HigherIteration`); not a dependency: `pip install higher` to include it.

The runs alternate (ours, loop, higher, ours, ...) so that a change in the machine's load hits all of them; the
best of the rounds is compared, and every run is printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = ("loop", "higher")
TARGETS = {"loop": 5.0, "higher": 10.0}


def reference_run(method: str, iterations: int, out: Path) -> None:
    """One reference training run in this process: the CLI's config, tasks and initial weights, another
    meta-gradient."""
    import torch

    from maml_core import build_model, default_config, get_params
    from maml_core.evaluation import task_sampler

    from .bench_engine import FixedBatchIteration, HigherIteration

    torch.set_num_threads(1)
    config = default_config("sinusoid", "maml", iterations=iterations, seed=0)
    sampler, g = task_sampler(config, training=True), torch.Generator().manual_seed(config.seed)
    model = build_model(config.model, seed=config.seed)
    if method == "loop":
        it = FixedBatchIteration(model, [], config.inner_steps, config.inner_lr)
        it.next_batch = lambda: sampler.sample(config.meta_batch, g)
        for _ in range(iterations):
            it.loop()
        params = it.loop_params
    else:
        it = HigherIteration(model, [], config.inner_steps, config.inner_lr)
        for _ in range(iterations):
            it.opt.zero_grad(set_to_none=True)
            it.meta_grad(sampler.sample(config.meta_batch, g))
            it.opt.step()
        params = get_params(model)
    torch.save({k: v.detach() for k, v in params.items()}, out)


def timed(cmd: list[str]) -> float:
    """Seconds from launching `cmd` to its exit (raises if it fails)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return secs


def have_higher() -> bool:
    try:
        import higher  # noqa: F401
    except ImportError as e:
        print(f"higher: not importable ({e}); `pip install higher` to include it")
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=1500, help="meta-iterations per run (default 1500)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each method, alternating (default 2)")
    ap.add_argument("--reference", choices=REFERENCES, help=argparse.SUPPRESS)  # one reference process
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        reference_run(args.reference, args.iterations, Path(args.out))
        return 0

    import torch

    command = " ".join(["python -m benchmarks.bench_cli", *sys.argv[1:]])
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    n = args.iterations
    methods = ["ours", "loop"] + (["higher"] if have_higher() else [])
    times: dict[str, list[float]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {"ours": [sys.executable, "-m", "maml_core", "train", "sinusoid", "--iterations", str(n),
                         "--eval-tasks", "0", "--no-compile", "--out", f"{tmp}/ours.pt"]}
        for m in REFERENCES:
            cmds[m] = [sys.executable, "-m", "benchmarks.bench_cli", "--reference", m, "--iterations", str(n),
                       "--out", f"{tmp}/{m}.pt"]
        for r in range(args.rounds):
            for m in methods:
                times[m].append(timed(cmds[m]))
                print(f"round {r + 1}  {m:<7} {times[m][-1]:7.1f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
    best = {m: min(v) for m, v in times.items()}
    print(f"\n{n} paper-protocol sinusoid iterations, evaluation off, whole processes (best of {args.rounds}):")
    print(f"    ours   `python -m maml_core train`       {best['ours']:7.1f} s")
    for m in methods[1:]:
        ratio = best[m] / best["ours"]
        verdict = "PASS" if ratio >= TARGETS[m] else "FAIL"
        print(f"    {m:<6} {'per-task loop' if m == 'loop' else 'innerloop_ctx per task':<31} {best[m]:7.1f} s"
              f"   ours {ratio:.1f}x faster   target >= {TARGETS[m]:.0f}x  {verdict}")
    if "higher" not in best:
        print("    higher not measured (not installed)")
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"(above {os.cpu_count()}: other processes shared the CPU)")
    print(f"command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
