"""MAML against transfer learning (and FO-MAML) on the same held-out episodes, task by task.

The accuracies in docs/RESULTS.md each carry their own 95% interval; two methods measured on the *same* 600 episodes
are compared more sharply by the per-episode difference (a paired comparison: the episodes' own difficulty cancels).
Each method adapts with the steps and inner learning rate chosen on validation (recorded in its checkpoint), on the
episodes `maml_core.adaptation_curves` draws with the report's task seed, so the means equal the report's table.

Usage: python scripts/paired.py [--data-dir ../shared/omniglot] [--tasks 600]   (prints the markdown section)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maml_core import adapt_curves, describe_lr, load_checkpoint, load_omniglot, mean_ci95, split, task_sampler  # noqa: E402
from maml_core.evaluation import EVAL_SEED  # noqa: E402

ASSETS = ROOT / "assets"
LABEL = {"maml": "MAML", "fomaml": "FO-MAML", "transfer": "Transfer learning"}
PAIRS = (("maml", "transfer"), ("maml", "fomaml"), ("fomaml", "transfer"))


def per_task_accuracy(data, cks: dict, tasks: int, chunk: int = 50) -> dict[str, torch.Tensor]:
    """(tasks,) query accuracy per episode for each 5-way checkpoint, all on the same episodes."""
    splits = {(c.config.omniglot.split, c.config.omniglot.split_seed, c.config.omniglot.split_fractions)
              for c in cks.values()}
    if len(splits) > 1:
        raise SystemExit("the checkpoints were trained on different splits: their test episodes differ")
    first = next(iter(cks.values()))
    sampler = task_sampler(first.config, split(data, first.config.omniglot)["test"])
    g = torch.Generator().manual_seed(EVAL_SEED)  # as adaptation_curves draws them
    out: dict[str, list[torch.Tensor]] = {n: [] for n in cks}
    done = 0
    while done < tasks:
        batch = sampler.sample(min(chunk, tasks - done), g)
        for n, ck in cks.items():
            acc = adapt_curves(ck.model, ck.params, batch, steps=ck.eval_steps, inner_lr=ck.inner_lr)["query_acc"]
            out[n].append(acc[:, ck.eval_steps])
        done += batch.support_x.shape[0]
    return {n: torch.cat(v) for n, v in out.items()}


def paired_rows(data, tasks: int) -> list[str]:
    cks = {n: load_checkpoint(path) for n in LABEL if (path := ASSETS / f"omniglot_5w1s_{n}.pt").exists()}
    acc = per_task_accuracy(data, cks, tasks)
    rows = ["| 5-way 1-shot, held-out characters | mean accuracy (steps, α) | difference, mean ± 95% CI of the "
            "per-episode difference | episodes better / equal / worse |", "|---|---|---|---|"]
    for a, b in PAIRS:
        if a not in acc or b not in acc:
            continue
        d = (acc[a] - acc[b]).unsqueeze(1)
        m, ci = mean_ci95(d)
        wins, ties = int((d > 0).sum()), int((d == 0).sum())
        rows.append(f"| {LABEL[a]} − {LABEL[b]} | {100 * float(acc[a].mean()):.1f}% ({cks[a].eval_steps}, "
                    f"{describe_lr(cks[a].inner_lr)}) vs {100 * float(acc[b].mean()):.1f}% ({cks[b].eval_steps}, "
                    f"{describe_lr(cks[b].inner_lr)}) | {100 * float(m[0]):+.1f} ± {100 * float(ci[0]):.1f} points | "
                    f"{wins} / {ties} / {len(d) - wins - ties} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/omniglot")
    ap.add_argument("--tasks", type=int, default=600)
    args = ap.parse_args()
    print("\n".join(paired_rows(load_omniglot(args.data_dir), args.tasks)))


if __name__ == "__main__":
    main()
