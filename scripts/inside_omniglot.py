"""What the Inside MAML page shows for Omniglot, precomputed: the shipped 5-way 1-shot MAML network adapted to
held-out test episodes with all its layers and with its head alone (ANIL: Raghu, Raghu, Bengio & Vinyals, "Rapid
Learning or Feature Reuse?", ICLR 2020), each episode the same for both; and how far each layer moves at each inner
step. Written as a small JSON file the page reads (assets/inside_omniglot.json) with the command that made it.

Usage: python scripts/inside_omniglot.py --data-dir ../shared/omniglot [--tasks 200] [--out assets/inside_omniglot.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # `python scripts/inside_omniglot.py` (the form recorded in assets/ and docs/)
    sys.path.insert(0, str(ROOT))  # imports maml_core from this checkout

import torch  # noqa: E402

from maml_core import adapt, head_names, load_checkpoint, load_omniglot, split, task_curves, task_sampler  # noqa: E402
from maml_core import geometry as G  # noqa: E402
from maml_core.evaluation import EVAL_SEED  # noqa: E402

STEPS = 10
LAYERS = ("features.0", "features.1", "features.2", "features.3", "head")  # conv blocks 1-4, then the head


def layer_of(name: str) -> str:
    return next(layer for layer in LAYERS if name.startswith(layer + "."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--checkpoint", default=str(ROOT / "assets" / "omniglot_5w1s_maml.pt"))
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "assets" / "inside_omniglot.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ck = load_checkpoint(args.checkpoint)
    test = split(load_omniglot(args.data_dir), ck.config.omniglot)["test"]
    sampler = task_sampler(ck.config, test)
    lr = float(ck.inner_lr)
    curves = {name: task_curves(ck.model, ck.params, sampler, tasks=args.tasks, steps=STEPS, inner_lr=lr, only=only)
              for name, only in (("all layers", None), ("head only (ANIL)", head_names(ck.model)))}

    def summary(acc: torch.Tensor) -> dict[str, list[float]]:
        return {"mean": acc.mean(0).tolist(), "ci95": (1.96 * acc.std(0) / math.sqrt(acc.shape[0])).tolist()}

    diff = curves["all layers"]["query_acc"] - curves["head only (ANIL)"]["query_acc"]
    # how far each layer moves: the mean over the first 20 episodes of |theta_s - theta_0| per layer
    g = torch.Generator().manual_seed(EVAL_SEED)
    batch = sampler.sample(20, g)
    moved = torch.zeros(STEPS + 1, len(LAYERS))
    size = torch.zeros(STEPS + 1, len(LAYERS))
    for i in range(batch.support_x.shape[0]):
        t = batch.task(i)
        with torch.no_grad():
            states = adapt(ck.model, ck.params, t.support_x, t.support_y, steps=STEPS, inner_lr=lr, first_order=True)
        c = G.layer_changes(states)
        for j, name in enumerate(c.names):
            k = LAYERS.index(layer_of(name))
            moved[:, k] += c.absolute[:, j] ** 2
            size[:, k] += torch.tensor([float(s[name].norm()) ** 2 for s in states])
    moved, size = (moved / batch.support_x.shape[0]).sqrt(), (size / batch.support_x.shape[0]).sqrt()
    out = {
        "command": "python scripts/inside_omniglot.py --data-dir DATA" + (f" --tasks {args.tasks}"
                                                                          if args.tasks != 200 else ""),
        "checkpoint": Path(args.checkpoint).name, "tasks": args.tasks, "steps": STEPS, "inner_lr": lr,
        "ways": ck.config.omniglot.n_way, "shots": ck.config.omniglot.k_shot, "task_seed": EVAL_SEED,
        "test_characters": len(test),
        "accuracy": {name: summary(c["query_acc"]) for name, c in curves.items()},
        "difference": {**summary(diff), "better": (diff > 0).sum(0).tolist(), "worse": (diff < 0).sum(0).tolist()},
        "layers": list(LAYERS), "layer_change": moved.tolist(), "layer_size": size.tolist(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    a, h = out["accuracy"]["all layers"]["mean"], out["accuracy"]["head only (ANIL)"]["mean"]
    print(f"wrote {args.out} in {out['seconds']} s: after 1 / 5 / {STEPS} steps, all layers "
          f"{a[1]:.3f} / {a[5]:.3f} / {a[STEPS]:.3f}, head only {h[1]:.3f} / {h[5]:.3f} / {h[STEPS]:.3f}")


if __name__ == "__main__":
    main()
