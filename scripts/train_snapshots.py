"""Snapshots of the shipped sinusoid MAML run along meta-training, for the Inside MAML page.

The shipped checkpoints hold only their final weights. This retrains the shipped MAML checkpoint's exact protocol
(its recorded config and seed, the compiled meta-step as the CLI used) and keeps the initialisation at a few
iterations, then writes them as one self-describing file (config, command, iterations, weights) and prints how far
the last snapshot is from the shipped weights.

Usage: python scripts/train_snapshots.py [--out assets/sinusoid_maml_snapshots.pt] [--no-compile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # `python scripts/train_snapshots.py` (the form recorded in assets/ and docs/)
    sys.path.insert(0, str(ROOT))  # imports maml_core from this checkout

import torch  # noqa: E402

from maml_core import load_checkpoint, meta_train, save_checkpoint  # noqa: E402

SNAPSHOT_ITERATIONS = (0, 100, 300, 1000, 3000, 10_000, 30_000, 70_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipped", default=str(ROOT / "assets" / "sinusoid_maml.pt"))
    ap.add_argument("--out", default=str(ROOT / "assets" / "sinusoid_maml_snapshots.pt"))
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    shipped = load_checkpoint(args.shipped)
    config = shipped.config
    keep = {i for i in SNAPSHOT_ITERATIONS if i <= config.iterations}
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def on_step(info) -> None:
        if info.iteration in keep:
            snapshots[info.iteration] = {k: v.detach().clone() for k, v in info.params.items()}

    from maml_core.training import Trainer  # the initialisation before the first outer step

    snapshots[0] = {k: v.detach().clone() for k, v in Trainer(config).params.items()}
    t = time.perf_counter()
    result = meta_train(config, on_step=on_step, compile=args.compile)
    seconds = time.perf_counter() - t
    diff = max(float((result.params[k] - shipped.params[k]).abs().max()) for k in shipped.params)
    iterations = sorted(snapshots)
    extra = {"snapshot_iterations": iterations,
             "snapshots": {str(i): snapshots[i] for i in iterations},
             "max_abs_diff_to_shipped": diff}
    command = "python scripts/train_snapshots.py" + ("" if args.compile else " --no-compile")
    save_checkpoint(args.out, config, result.params, metrics=shipped.metrics,
                    info={"command": command, "iteration": result.iterations_done, "seconds": round(seconds, 1),
                          "kind": "snapshots along training", "retrains": shipped.info.get("command")},
                    extra=extra)
    print(f"wrote {args.out}: {len(iterations)} snapshots at iterations {iterations}, {seconds:.0f} s of training; "
          f"last snapshot vs shipped weights: max |difference| {diff:.3g}")


if __name__ == "__main__":
    main()
