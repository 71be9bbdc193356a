"""MAML against transfer learning (and FO-MAML) on the same held-out episodes, task by task.

The accuracies in docs/RESULTS.md each carry their own 95% interval; two methods measured on the *same* 600 episodes
are compared more sharply by the per-episode difference (a paired comparison: the episodes' own difficulty cancels).
Each method adapts with the steps and inner learning rate chosen on validation (recorded in its checkpoint), on the
episodes `maml_core.adaptation_curves` draws with the report's task seed, so the means equal the report's table.

20-way: MAML uses its 20-way checkpoint; FO-MAML and transfer learning use their 5-way checkpoints, whose zero heads
widen to 20 rows (`maml_core.omniglot.fit_head`), at the steps and α they were validated with on 5-way tasks.

Usage: python scripts/paired.py [--data-dir ../shared/omniglot] [--tasks 600] [--ways 5 20] [--json FILE]
(prints the markdown sections; --json also writes the figures the Omniglot page shows, e.g.
assets/omniglot_test_results.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # `python scripts/paired.py` (the form recorded in assets/ and docs/)
    sys.path.insert(0, str(ROOT))  # imports maml_core from this checkout

from maml_core import (  # noqa: E402
    adapt_curves,
    build_model,
    describe_lr,
    load_checkpoint,
    load_omniglot,
    mean_ci95,
    split,
    task_sampler,
)
from maml_core.evaluation import EVAL_SEED, OMNIGLOT_EVAL_QUERIES  # noqa: E402
from maml_core.omniglot import fit_head  # noqa: E402

ASSETS = ROOT / "assets"
LABEL = {"maml": "MAML", "fomaml": "FO-MAML", "transfer": "Transfer learning"}
PAIRS = (("maml", "transfer"), ("maml", "fomaml"), ("fomaml", "transfer"))


def checkpoint_files(ways: int) -> dict[str, Path]:
    """Each method's checkpoint for `ways`-way episodes: its own `ways`-way file when one ships, else the 5-way one."""
    out = {}
    for n in LABEL:
        own, five = ASSETS / f"omniglot_{ways}w1s_{n}.pt", ASSETS / f"omniglot_5w1s_{n}.pt"
        if own.exists() or five.exists():
            out[n] = own if own.exists() else five
    return out


def per_task_accuracy(data, cks: dict, tasks: int, ways: int = 5, chunk: int = 50) -> dict[str, torch.Tensor]:
    """(tasks,) query accuracy per episode for each checkpoint at its validated steps and α, all on the same
    `ways`-way episodes."""
    splits = {(c.config.omniglot.split, c.config.omniglot.split_seed, c.config.omniglot.split_fractions)
              for c in cks.values()}
    if len(splits) > 1:
        raise SystemExit("the checkpoints were trained on different splits: their test episodes differ")
    first = next(iter(cks.values()))
    sampler = task_sampler(first.config, split(data, first.config.omniglot)["test"], n_way=ways)
    g = torch.Generator().manual_seed(EVAL_SEED)  # as adaptation_curves draws them
    nets = {n: (build_model(replace(ck.config.model, n_out=ways)).requires_grad_(False), fit_head(ck.params, ways))
            for n, ck in cks.items()}
    out: dict[str, list[torch.Tensor]] = {n: [] for n in cks}
    done = 0
    while done < tasks:
        batch = sampler.sample(min(chunk, tasks - done), g)
        for n, ck in cks.items():
            model, params = nets[n]
            acc = adapt_curves(model, params, batch, steps=ck.eval_steps, inner_lr=ck.inner_lr)["query_acc"]
            out[n].append(acc[:, ck.eval_steps])
        done += batch.support_x.shape[0]
        print(f"{ways}-way: {done}/{tasks} episodes", file=sys.stderr, flush=True)
    return {n: torch.cat(v) for n, v in out.items()}


def measure(data, tasks: int, ways: int) -> dict:
    """Every method's accuracy and every pair's per-episode difference on `tasks` held-out `ways`-way episodes."""
    files = checkpoint_files(ways)
    cks = {n: load_checkpoint(p) for n, p in files.items()}
    acc = per_task_accuracy(data, cks, tasks, ways)
    methods = {}
    for n, ck in cks.items():
        m, ci = mean_ci95(acc[n].unsqueeze(1))
        methods[n] = {"checkpoint": files[n].name, "trained_ways": ck.config.omniglot.n_way,
                      "steps": ck.eval_steps, "inner_lr": ck.inner_lr, "accuracy": float(m[0]), "ci95": float(ci[0])}
    pairs = []
    for a, b in PAIRS:
        if a in acc and b in acc:
            d = (acc[a] - acc[b]).unsqueeze(1)
            m, ci = mean_ci95(d)
            wins, ties = int((d > 0).sum()), int((d == 0).sum())
            pairs.append({"a": a, "b": b, "difference": float(m[0]), "ci95": float(ci[0]), "better": wins,
                          "equal": ties, "worse": len(d) - wins - ties})
    return {"ways": ways, "shots": 1, "queries_per_class": OMNIGLOT_EVAL_QUERIES, "tasks": tasks,
            "task_seed": EVAL_SEED, "methods": methods, "pairs": pairs}


def rows(r: dict) -> list[str]:
    """The markdown table of one `measure` result."""
    ms = r["methods"]
    head = [f"| {r['ways']}-way 1-shot, held-out characters | mean accuracy (steps, α) | difference, mean ± 95% CI "
            "of the per-episode difference | episodes better / equal / worse |", "|---|---|---|---|"]

    def cell(n: str) -> str:
        m = ms[n]
        trained = "" if m["trained_ways"] == r["ways"] else f", its {m['trained_ways']}-way network"
        return f"{100 * m['accuracy']:.1f}% ({m['steps']}, {describe_lr(m['inner_lr'])}{trained})"

    return head + [f"| {LABEL[p['a']]} − {LABEL[p['b']]} | {cell(p['a'])} vs {cell(p['b'])} | "
                   f"{100 * p['difference']:+.1f} ± {100 * p['ci95']:.1f} points | "
                   f"{p['better']} / {p['equal']} / {p['worse']} |" for p in r["pairs"]]


def paired_rows(data, tasks: int, ways: int = 5) -> list[str]:
    return rows(measure(data, tasks, ways))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/omniglot")
    ap.add_argument("--tasks", type=int, default=600)
    ap.add_argument("--ways", type=int, nargs="+", default=[5])
    ap.add_argument("--json", type=Path, help="also write the measured figures here (what the Omniglot page reads)")
    args = ap.parse_args()
    data = load_omniglot(args.data_dir)
    results = {}
    for ways in args.ways:
        t0 = time.perf_counter()
        results[str(ways)] = r = measure(data, args.tasks, ways)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        print("\n".join(rows(r)) + "\n", flush=True)
    if args.json:
        command = "python scripts/paired.py --data-dir DATA --tasks {} --ways {} --json {}".format(
            args.tasks, " ".join(map(str, args.ways)), args.json.as_posix())
        args.json.write_text(json.dumps({"format": "maml_core.omniglot_test_results", "version": 1,
                                         "command": command, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
