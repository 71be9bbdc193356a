"""Ablation of the Omniglot normalisation and head on one fixed budget (issue 7; docs/RESULTS.md).

First-order MAML, 5-way 1-shot, 2,000 iterations, meta-batch 16, inner lr 0.4, 1 inner step in
training and 10 at test, on our 242 characters split by character. Every normalisation in
`maml_core.config.NORMS` with the paper's freely learned head and with the zeroing trick; then
TaskNorm-I with UNICORN-MAML's shared head and with the affine augmentation. Each run keeps the
initialisation that did best on the validation characters and is tested on 600 tasks of the
held-out characters, each query classified alone (the transductive batch norm also in a batch).

Runs are resumable (logs/ablation/NAME.state) and several processes can share the list: each
claims a run with a lock file. Results go to docs/ablation/NAME.json.

    OMP_NUM_THREADS=1 python scripts/ablation.py --data-dir ../shared/omniglot &   # one per core
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maml_core import adaptation_curves, default_config, load_omniglot, meta_train, predict, split, task_sampler  # noqa: E402
from maml_core.evaluation import EVAL_SEED  # noqa: E402

BUDGET = dict(iterations=2000, meta_batch=16, inner_lr=0.4, inner_steps=1, eval_steps=10, val_every=500,
              val_tasks=100)
RUNS = {f"{norm}_{head}": dict(norm=norm, head=head, augment=False)  # most telling first
        for norm in ("tasknorm_i", "layer") for head in ("zero", "learned")}
RUNS["tasknorm_i_zero_augment"] = dict(norm="tasknorm_i", head="zero", augment=True)
RUNS["tasknorm_i_shared"] = dict(norm="tasknorm_i", head="shared", augment=False)
RUNS.update({f"{norm}_{head}": dict(norm=norm, head=head, augment=False)
             for norm in ("metabn", "instance", "transductive_bn") for head in ("zero", "learned")})
OUT = ROOT / "docs" / "ablation"


def step0_chance_gap(result, sampler) -> float:
    """max over 100 test tasks and their queries of |p(class) - 1/N| before any inner step."""
    batch = sampler.sample(100, torch.Generator().manual_seed(EVAL_SEED))
    worst = 0.0
    with torch.no_grad():
        for i in range(100):
            t = batch.task(i)
            p = predict(result.model, result.params, t.query_x, support_x=t.support_x).softmax(-1)
            worst = max(worst, float((p - 1 / p.shape[-1]).abs().max()))
    return worst


def run(name: str, data, data_dir: str) -> dict:
    config = default_config("omniglot", "fomaml", data_dir=data_dir, **BUDGET, **RUNS[name])
    state = ROOT / "logs" / "ablation" / f"{name}.state"
    state.parent.mkdir(parents=True, exist_ok=True)
    result = meta_train(config, data=split(data, config.omniglot), checkpoint_path=state, checkpoint_every=250,
                        resume=True)
    sampler = task_sampler(config, result.data["test"])
    c = adaptation_curves(result.model, result.params, sampler, tasks=600, steps=10, inner_lr=config.inner_lr,
                          queries_alone=True)
    out = {"name": name, **RUNS[name], "budget": BUDGET, "training_seconds": round(result.seconds, 1),
           "best_val": result.best_val, "alone": {"acc": c.query_acc[0], "ci95": c.query_acc[1]},
           "step0_max_gap": step0_chance_gap(result, sampler), "history": result.history,
           "config": config.to_dict(), "machine": f"{os.cpu_count()} cores, torch {torch.__version__}",
           "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    if config.model.norm == "transductive_bn":
        b = adaptation_curves(result.model, result.params, sampler, tasks=600, steps=10, inner_lr=config.inner_lr)
        out["batch"] = {"acc": b.query_acc[0], "ci95": b.query_acc[1]}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/omniglot")
    p.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    OUT.mkdir(parents=True, exist_ok=True)
    data = load_omniglot(args.data_dir)
    for name in args.runs:
        result, lock = OUT / f"{name}.json", ROOT / "logs" / "ablation" / f"{name}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        if result.exists():
            continue
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue  # another process has it
        try:
            os.write(fd, str(os.getpid()).encode())
            out = run(name, data, args.data_dir)
            result.write_text(json.dumps(out, indent=1))
            print(f"{name}: {100 * out['alone']['acc'][-1]:.1f}% after 10 steps "
                  f"({out['training_seconds'] / 60:.1f} min)", flush=True)
        finally:
            os.close(fd)
            lock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
