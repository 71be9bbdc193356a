"""Speed of the MAML engine, measured in one run with one protocol. Prints figures; not a test.

    python -m benchmarks.bench_engine            # full run (a few minutes)
    python -m benchmarks.bench_engine --quick    # short run (under a minute)
    python -m benchmarks.bench_engine --threads 1

Measured (ms per meta-iteration, median of repeats after warm-up, the Adam update included as in
training; the same pre-sampled task batches for every method):
1. sinusoid, meta-batch 25, K = 10 support + 10 query points, one second-order inner step:
   ours (`meta_loss_and_grad`: for the MLP every task's weights along one dimension with plain autograd; its
   `vmap` form, grad(vmap(adapt -> query loss)), which `--compile` traces, beside it), a plain per-task loop with
   `autograd.grad(create_graph=True)` (`meta_loss_loop`), and the `higher` library (its MAML
   example: `innerloop_ctx` per task, `.backward()` per task). `higher` is not a dependency:
   `pip install higher` to include it.
2. the paper's full sinusoid run (70,000 iterations): `meta_train` timed for some iterations and
   extrapolated linearly (stated as such in the output), eager and then through `torch.compile`
   (its compilation timed apart); and, if assets/sinusoid_maml.pt is a full run, the training time
   its CLI recorded.
3. Omniglot 5-way 1-shot, meta-batch 32, one second-order step (alpha = 0.4): ours vs the loop
   (random images: the cost does not depend on what is drawn).
4. app latency, as the app does it (test-time adaptation is first-order, under no_grad): 10 steps
   of `adapt`, then `predict` with every state (steps 0..10), median of 50:
   sinusoid MLP on a 200-point grid; a 5-way 1-shot Omniglot episode (5 support + 5 query drawings).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from maml_core import (
    OmniglotConvNet,
    OmniglotData,
    OmniglotTasks,
    SinusoidMLP,
    SinusoidTasks,
    adapt,
    adapt_and_measure,
    default_config,
    get_params,
    meta_loss_and_grad,
    meta_loss_loop,
    meta_train,
    predict,
)
from maml_core.config import SinusoidTaskConfig

PAPER_SINUSOID_ITERATIONS = 70_000


def compare(fns: dict[str, Callable[[], object]], *, warmup: int, repeats: int,
            per_repeat: int) -> dict[str, tuple[float, float]]:
    """(median wall ms, median CPU ms) per call for each function. The functions take turns within
    every repeat, so a change in the machine's load hits all of them alike (the machine may be busy).
    CPU time is this process's (all its threads): with one thread it is the work done, whatever the load."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(per_repeat):
                fn()
            wall[name].append((time.perf_counter() - t0) * 1000 / per_repeat)
            cpu[name].append((time.process_time() - c0) * 1000 / per_repeat)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def apply_adam(opt: torch.optim.Optimizer, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> None:
    for k, p in params.items():
        p.grad = grads[k]
    opt.step()
    opt.zero_grad(set_to_none=True)


class FixedBatchIteration:
    """One meta-iteration (meta-gradient + Adam) for a given method, cycling through fixed batches.
    Not maml_core's Trainer, which samples its own tasks and has no plain loop: here all methods share batches."""

    def __init__(self, model: torch.nn.Module, batches: list, steps: int, inner_lr: float) -> None:
        self.model, self.batches, self.steps, self.lr = model, batches, steps, inner_lr
        self.i = 0
        self.params = get_params(model)  # as meta_train: torch.func needs no requires_grad
        self.loop_params = {k: v.clone().requires_grad_() for k, v in self.params.items()}  # autograd does
        self.opt = torch.optim.Adam(self.params.values(), lr=1e-3, fused=True)  # as meta_train
        self.loop_opt = torch.optim.Adam(self.loop_params.values(), lr=1e-3, fused=True)

    def next_batch(self):
        self.i += 1
        return self.batches[self.i % len(self.batches)]

    def ours(self, tasks_at_once: bool | None = None) -> None:
        # the same work as the loop: meta-gradient and update (meta_train adds the per-step curve every 10th)
        _, grads, _ = meta_loss_and_grad(self.model, self.params, self.next_batch(), steps=self.steps,
                                         inner_lr=self.lr, track_steps=False, tasks_at_once=tasks_at_once)
        apply_adam(self.opt, self.params, grads)

    def ours_vmap(self) -> None:
        self.ours(tasks_at_once=False)

    def loop(self) -> None:
        loss = meta_loss_loop(self.model, self.loop_params, self.next_batch(), steps=self.steps, inner_lr=self.lr)
        grads = dict(zip(self.loop_params, torch.autograd.grad(loss, list(self.loop_params.values()))))
        apply_adam(self.loop_opt, self.loop_params, grads)


class HigherIteration:
    """The `higher` library's MAML recipe: a differentiable inner optimiser per task, `.backward()` per task."""

    def __init__(self, model: torch.nn.Module, batches: list, steps: int, inner_lr: float) -> None:
        import higher  # optional: only this benchmark uses it

        self.higher = higher
        self.model, self.batches, self.steps, self.lr = model, batches, steps, inner_lr
        self.i = 0
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        self.inner_opt = torch.optim.SGD(model.parameters(), lr=inner_lr)

    def meta_grad(self, batch) -> None:
        n = batch.support_x.shape[0]
        for t in range(n):
            with self.higher.innerloop_ctx(self.model, self.inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(self.steps):
                    diffopt.step(F.mse_loss(fmodel(batch.support_x[t]), batch.support_y[t]))
                (F.mse_loss(fmodel(batch.query_x[t]), batch.query_y[t]) / n).backward()

    def step(self) -> None:
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        self.meta_grad(self.batches[self.i % len(self.batches)])
        self.opt.step()


def check_same_gradients(model: torch.nn.Module, batch, steps: int, lr: float, with_higher: bool) -> str:
    """The compared methods compute the same meta-gradient (relative difference of the whole gradient)."""
    params = {k: v.requires_grad_() for k, v in get_params(model).items()}
    _, ours, _ = meta_loss_and_grad(model, params, batch, steps=steps, inner_lr=lr)
    loss = meta_loss_loop(model, params, batch, steps=steps, inner_lr=lr)
    loop = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    # the whole meta-gradient as one vector: a conv bias before a normalisation has a zero gradient in exact
    # arithmetic, so its float residue (about 1e-8) differs by ~100% between any two orders of summation
    vec = lambda a: torch.cat([a[k].reshape(-1) for k in params])  # noqa: E731
    rel = lambda a, b: ((vec(a) - vec(b)).norm() / vec(b).norm().clamp_min(1e-12)).item()  # noqa: E731
    text = f"loop vs ours {rel(loop, ours):.1e}"
    if hasattr(model, "tasks_forward"):
        _, vmapped, _ = meta_loss_and_grad(model, params, batch, steps=steps, inner_lr=lr, tasks_at_once=False)
        text += f", vmap form vs ours {rel(vmapped, ours):.1e}"
    if with_higher:
        h = HigherIteration(model, [batch], steps, lr)
        model.zero_grad(set_to_none=True)
        h.meta_grad(batch)
        text += f", higher vs ours {rel({k: p.grad for k, p in model.named_parameters()}, ours):.1e}"
        model.zero_grad(set_to_none=True)
    return text


def random_omniglot(n_chars: int = 100) -> OmniglotData:
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(n_chars, 20, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    return OmniglotData(images, tuple(f"Random/character{c:03d}" for c in range(n_chars)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a shorter training run")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's default)")
    ap.add_argument("--train-iterations", type=int, help="meta_train iterations timed for the 70k projection "
                    "(default 5000, --quick 1000)")
    ap.add_argument("--assets", default=str(Path(__file__).resolve().parent.parent / "assets"),
                    help="folder with shipped checkpoints: the recorded time of the full sinusoid run is shown")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    q = args.quick
    command = " ".join(["python -m benchmarks.bench_engine", *sys.argv[1:]])
    load0 = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average at start {load0[0]:.2f}")
    rows: list[tuple[str, str, str, bool | None]] = []

    # 1. sinusoid meta-iteration -------------------------------------------------------------
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tasks = SinusoidTasks(SinusoidTaskConfig(k_shot=10, n_query=10))
    batches = [tasks.sample(25, g) for _ in range(32)]
    try:
        import higher  # noqa: F401
        have_higher = True
    except ImportError as e:
        have_higher = False
        print(f"higher: not importable ({e}); `pip install higher` to include it")
    print("\n[1] sinusoid, meta-batch 25, K=10 (+10 query), 1 second-order inner step, alpha=0.01, Adam")
    print("    same meta-gradient:", check_same_gradients(SinusoidMLP(), batches[0], 1, 0.01, have_higher))
    reps = dict(warmup=10 if q else 30, repeats=5 if q else 11, per_repeat=10 if q else 30)
    torch.manual_seed(0)
    methods = {"ours": FixedBatchIteration(SinusoidMLP(), batches, 1, 0.01).ours}
    torch.manual_seed(0)
    methods["vmap"] = FixedBatchIteration(SinusoidMLP(), batches, 1, 0.01).ours_vmap
    torch.manual_seed(0)
    methods["loop"] = FixedBatchIteration(SinusoidMLP(), batches, 1, 0.01).loop
    if have_higher:
        torch.manual_seed(0)
        methods["higher"] = HigherIteration(SinusoidMLP(), batches, 1, 0.01).step
    res = compare(methods, **reps)
    labels = {"ours": "ours    tasks at once, autograd", "vmap": "ours    grad(vmap(...)) form",
              "loop": "loop    autograd.grad per task",
              "higher": "higher  innerloop_ctx per task"}
    ours_ms = res["ours"][0]
    for name, (wall_ms, cpu_ms) in res.items():
        ratio = "" if name == "ours" else f"   {wall_ms / ours_ms:5.1f}x ours (CPU: {cpu_ms / res['ours'][1]:.1f}x)"
        print(f"    {labels[name]:<32} {wall_ms:8.2f} ms/iteration (CPU {cpu_ms:7.2f} ms){ratio}")
    loop_ms = res["loop"][0]
    rows.append(("sinusoid: ours vs plain loop", f"{loop_ms / ours_ms:.1f}x faster ({ours_ms:.2f} vs {loop_ms:.2f} ms)",
                 ">= 5x", loop_ms / ours_ms >= 5))
    if have_higher:
        higher_ms = res["higher"][0]
        rows.append(("sinusoid: ours vs higher", f"{higher_ms / ours_ms:.1f}x faster ({ours_ms:.2f} vs "
                     f"{higher_ms:.2f} ms)", ">= 10x", higher_ms / ours_ms >= 10))
    else:
        rows.append(("sinusoid: ours vs higher", "not measured (higher not installed)", ">= 10x", None))

    # 2. the paper's full sinusoid run ---------------------------------------------------------
    n = args.train_iterations or (1000 if q else 5000)
    print(f"\n[2] meta_train(default_config('sinusoid', 'maml', iterations={n}), compile=False): the paper's settings")
    t0, c0 = time.perf_counter(), time.process_time()
    result = meta_train(default_config("sinusoid", "maml", iterations=n), log_every=max(1, n // 5), compile=False)
    secs, cpu_secs = time.perf_counter() - t0, time.process_time() - c0
    projected = secs / n * PAPER_SINUSOID_ITERATIONS
    print(f"    {n} iterations in {secs:.1f} s ({n / secs:.0f} it/s, {1000 * secs / n:.2f} ms/iteration, CPU "
          f"{1000 * cpu_secs / n:.2f} ms; task sampling and logging included); meta-loss "
          f"{result.history[0]['meta_loss']:.3f} -> {result.history[-1]['meta_loss']:.3f}")
    print(f"    projected (linear extrapolation, not measured) for {PAPER_SINUSOID_ITERATIONS:,} iterations: "
          f"{projected / 60:.1f} min (from CPU time: {cpu_secs / n * PAPER_SINUSOID_ITERATIONS / 60:.1f} min)")
    rows.append((f"sinusoid 70k-iteration run (projected from {n})", f"{projected / 60:.1f} min", "< 5 min",
                 projected < 300))
    shipped = Path(args.assets) / "sinusoid_maml.pt"
    if shipped.is_file():  # a real full run, timed by the CLI that trained it (not by this benchmark)
        from maml_core import load_checkpoint

        info = load_checkpoint(shipped).info
        if info.get("iteration") == PAPER_SINUSOID_ITERATIONS and info.get("training_seconds"):
            full = float(info["training_seconds"])
            print(f"    measured: {shipped} records {info['iteration']:,} iterations in {full / 60:.1f} min of "
                  f"training on {info.get('machine', '?')} ({info.get('command', '')[:60]}...)")
            rows.append(("sinusoid 70k-iteration run (measured, shipped ckpt)", f"{full / 60:.1f} min", "< 5 min",
                         full < 300))

    # 2b. the same run through torch.compile: compilation timed apart from the steady iterations ---------------
    print(f"\n[2b] the same, compile=True: the first iteration (compilation) timed apart from the other {n - 1}")
    stamps: list[float] = []
    t0 = time.perf_counter()
    meta_train(default_config("sinusoid", "maml", iterations=n), log_every=max(1, n // 5), compile=True,
               on_step=lambda info: stamps.append(time.perf_counter()) and None)
    first, rest = stamps[0] - t0, stamps[-1] - stamps[0]
    per_it = rest / max(1, n - 1)
    full_c = first + per_it * PAPER_SINUSOID_ITERATIONS
    print(f"    first iteration (compiles; cached on disk for later processes): {first:.1f} s; then "
          f"{1000 * per_it:.2f} ms/iteration ({secs / n / per_it:.1f}x the eager run above)")
    print(f"    projected (linear extrapolation, not measured) for {PAPER_SINUSOID_ITERATIONS:,} iterations: "
          f"{per_it * PAPER_SINUSOID_ITERATIONS / 60:.1f} min of iterations + {first:.0f} s compilation")
    rows.append((f"sinusoid 70k run, compiled (projected from {n})",
                 f"{per_it * PAPER_SINUSOID_ITERATIONS / 60:.1f} min + {first:.0f} s compile", "< 2 min",
                 full_c < 120))

    # 3. Omniglot 5-way 1-shot, meta-batch 32 ---------------------------------------------------
    print("\n[3] Omniglot 5-way 1-shot (1 query per class), meta-batch 32, 1 second-order step, alpha=0.4, Adam")
    sampler = OmniglotTasks(random_omniglot(), 5, 1, 1, rotations=True)
    og = torch.Generator().manual_seed(0)
    obatches = [sampler.sample(32, og) for _ in range(4)]
    torch.manual_seed(0)
    print("    same meta-gradient:", check_same_gradients(OmniglotConvNet(5), obatches[0], 1, 0.4, False))
    oreps = dict(warmup=1, repeats=3, per_repeat=1 if q else 3)
    torch.manual_seed(0)
    omethods = {"ours": FixedBatchIteration(OmniglotConvNet(5), obatches, 1, 0.4).ours}
    torch.manual_seed(0)
    omethods["loop"] = FixedBatchIteration(OmniglotConvNet(5), obatches, 1, 0.4).loop
    ores = compare(omethods, **oreps)
    (o_ours, c_ours), (o_loop, c_loop) = ores["ours"], ores["loop"]
    print(f"    ours {o_ours:8.1f} ms/iteration (CPU {c_ours:.1f})   loop {o_loop:8.1f} ms/iteration (CPU {c_loop:.1f})"
          f"   loop / ours = {o_loop / o_ours:.2f}")
    rows.append(("omniglot 5w1s MAML: ours vs loop", f"{o_loop / o_ours:.2f}x ({o_ours:.0f} vs {o_loop:.0f} ms)",
                 ">= 1x (no slower)", o_ours <= o_loop))

    # 4. app latency ----------------------------------------------------------------------------
    print("\n[4] app latency: adapt 10 steps (first-order, no_grad, as the app) + predict with all 11 states")
    lat = dict(warmup=5, repeats=50, per_repeat=1)
    torch.manual_seed(0)
    mlp = SinusoidMLP().requires_grad_(False)
    mlp_params = get_params(mlp)
    task = tasks.sample(1, g, k_shot=10).task(0)
    grid = torch.linspace(-5, 5, 200).reshape(-1, 1)

    def sinusoid_latency():
        with torch.no_grad():
            states = adapt(mlp, mlp_params, task.support_x, task.support_y, steps=10, inner_lr=0.01, first_order=True)
            return [predict(mlp, s, grid) for s in states]

    s_ms, s_cpu = compare({"s": sinusoid_latency}, **lat)["s"]
    print(f"    sinusoid MLP, K=10, 200-point grid:           median {s_ms:7.2f} ms (CPU {s_cpu:.2f} ms)")
    rows.append(("app: sinusoid adapt 10 steps + predict", f"{s_ms:.2f} ms", "< 10 ms", s_ms < 10))

    conv = OmniglotConvNet(5).requires_grad_(False)
    conv_params = get_params(conv)
    episode = OmniglotTasks(random_omniglot(), 5, 1, 1).sample(1, og).task(0)
    queries = torch.cat([episode.query_x, episode.support_x])[:5]

    def omniglot_latency():
        with torch.no_grad():  # the app's call: support loss and query outputs after every step
            return adapt_and_measure(conv, conv_params, episode.support_x, episode.support_y, queries, steps=10,
                                     inner_lr=0.4, outputs=True)

    o_ms, o_cpu = compare({"o": omniglot_latency}, **lat)["o"]
    print(f"    Omniglot 5-way 1-shot (TaskNorm-I), 5 support + 5 queries: median {o_ms:7.2f} ms (CPU {o_cpu:.2f} ms)")
    rows.append(("app: omniglot 5w1s adapt 10 steps + predict", f"{o_ms:.1f} ms", "< 150 ms", o_ms < 150))

    # summary --------------------------------------------------------------------------------
    load1 = os.getloadavg()
    print(f"\nload average at end {load1[0]:.2f} (a load above {os.cpu_count()} means other processes shared the CPU)")
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    print(f"\n{'figure':<{w}}  {'measured':<{v}}  {'target':<18} result")
    for name, value, target, ok in rows:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<{w}}  {value:<{v}}  {target:<18} {verdict}")
    print(f"\ncommand: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
