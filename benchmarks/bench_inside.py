"""The Inside MAML page's server-side work, on one thread: (1) a new plane (the plane, a 41 x 41 grid of 4 tasks'
support losses, both plane-spanning tasks' paths), (2) a click on the plane (every task's paths from the clicked
theta, the four update directions, the per-layer change), (3) the meta-objective along the line (5 values of m on
100 tasks, computed once per server and inner learning rate), and the figures. Median of repeats.

(4) with $MAML_DATA_DIR set: an Omniglot 5-way 1-shot test episode's landscape as the page measures it (the
shipped MAML network, the plane through its start and its weights after 1 and 10 steps, a 21 x 21 grid of the
query loss, both paths), with its peak resident memory.

Targets (the Inside MAML issue): (1) + (2) under 0.5 s; (4) under 5 s.
Usage: python -m benchmarks.bench_inside [--repeats 7]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

# "no runtime" warnings: the views run here without a Streamlit server (set before they are imported)
logging.disable(logging.WARNING)

import torch  # noqa: E402

from benchmarks.harness import ROOT  # noqa: E402
from maml_core import SinusoidTasks, load_checkpoint  # noqa: E402
from ui.inside import charts  # noqa: E402
from ui.inside import numbers as num  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    nets = {m: load_checkpoint(ROOT / "assets" / f"sinusoid_{m}.pt") for m in ("maml", "fomaml", "pretrain")}
    model = nets["maml"].model
    starts = {m: c.params for m, c in nets.items()}
    tasks = num.page_tasks(None, 5, seed=0)
    batch = num.episode(tasks)
    steps, lr = 10, 0.01
    land = num.compute_landscape(model, starts, "maml", "gradients", batch, steps, lr)  # (warm-up)
    theta = land.plane.point(0.05, -0.03)

    def new_plane():
        return num.compute_landscape(model, starts, "maml", "gradients", batch, steps, lr)

    def click():
        paths = num.compute_paths(model, land.plane, theta, batch, steps, lr)
        table = num.compute_directions(model, land.plane, theta, batch, steps, lr)
        layers = num.compute_layers(model, theta, batch.task(0), steps, lr)
        return paths, table, layers

    line_tasks = SinusoidTasks().sample(100, torch.Generator().manual_seed(1234), k_shot=10, n_query=50)
    paths, table, layers = click()

    def draw():
        charts.landscape_figure(land, paths, steps, tasks, "maml", (0.05, -0.03), 540).to_dict()
        charts.directions_figure(table, 380).to_dict()
        charts.layers_figure(layers, steps, 320).to_dict()

    t_plane = median_seconds(new_plane, args.repeats)
    t_click = median_seconds(click, args.repeats)
    t_draw = median_seconds(draw, args.repeats)
    t_line = median_seconds(lambda: num.compute_line(model, starts["pretrain"], starts["maml"], line_tasks, lr),
                            max(1, args.repeats // 3))
    print(f"sinusoid, {len(tasks)} tasks, K = 5, S = {steps}, one thread, median of {args.repeats}:")
    print(f"  (1) new plane: {num.GRID}x{num.GRID} grid of 4 tasks + the spanning paths   {t_plane * 1e3:7.1f} ms")
    print(f"  (2) click: 4 tasks' paths, 4 directions, layer changes          {t_click * 1e3:7.1f} ms")
    print(f"      figures for (1)+(2)                                          {t_draw * 1e3:7.1f} ms")
    total = t_plane + t_click + t_draw
    print(f"  (1) + (2) + figures: {total:.3f} s (target < 0.5 s: {'met' if total < 0.5 else 'NOT met'})")
    print(f"  (3) meta-objective line, 5 m x 41 points x 100 tasks (once per server and alpha): {t_line:.2f} s")
    omniglot(max(1, args.repeats // 3))


def omniglot(repeats: int) -> None:
    import os

    from benchmarks.processes import MemorySampler
    from maml_core import build_model, load_omniglot, split
    from maml_core.omniglot import OmniglotTasks
    from ui.inside import omniglot_plane as op

    if not os.environ.get("MAML_DATA_DIR"):
        print("  (4) Omniglot episode landscape: skipped (set MAML_DATA_DIR to the folder with the archives)")
        return
    from ui.common import OMNIGLOT_CHECKPOINTS

    ck = load_checkpoint(ROOT / "assets" / OMNIGLOT_CHECKPOINTS["maml"])
    data = split(load_omniglot(os.environ["MAML_DATA_DIR"]), ck.config.omniglot)["test"]
    model = build_model(ck.config.model)
    times = []
    sampler = MemorySampler(os.getpid(), every=0.5)  # (reading its own smaps takes this process's time)
    before = sampler.current_pss_kb() / 1024
    sampler.start()
    for episode in range(repeats):
        seed = torch.Generator().manual_seed(4321 + episode)  # the page's episode `episode`
        tasks = OmniglotTasks(data, n_way=5, k_shot=1, n_query=1).sample(1, seed)
        t = time.perf_counter()
        op.compute_omniglot_plane(model, ck.params, tasks, op.OMNI_STEPS, ck.inner_lr)
        times.append(time.perf_counter() - t)
    sampler.stop()
    median = statistics.median(times)
    print(f"  (4) Omniglot 5-way 1-shot episode, {op.OMNI_GRID}x{op.OMNI_GRID} grid + 2 paths x {op.OMNI_STEPS} steps: "
          f"{median:.2f} s median of {repeats} episodes (max {max(times):.2f}; target < 5 s: "
          f"{'met' if median < 5 else 'NOT met'}); PSS {before:.0f} MB before, peak {sampler.peak_pss_kb / 1024:.0f}")


if __name__ == "__main__":
    main()
