"""Sinusoid checkpoints over several seeds: train each with the paper's protocol (the project's CLI), choose one on
validation tasks only, and print every seed's validation and test figures beside the paper's Table 2.

Validation score: the mean query MSE after 1, 5 and 10 steps on the 200 validation tasks the CLI records in each
checkpoint (K = 10, the training shots). Test figures: the checkpoint's recorded 600-task 5-shot curve.

Usage: python scripts/sinusoid_seeds.py [--algo maml] [--seeds 0 1 2] [--out-dir logs/sinusoid_seeds]
                                        [--ship assets/sinusoid_maml.pt] [--no-train]
A seed whose checkpoint exists is not retrained (`--seeds 0` may name the shipped file with --existing).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maml_core import load_checkpoint  # noqa: E402

PAPER_5SHOT = {"maml": (0.67, 0.38, 0.35), "pretrain": (2.41, 2.23, 2.19)}
STEPS = (1, 5, 10)


def train(algo: str, seed: int, out: Path) -> None:
    cmd = [sys.executable, "-m", "maml_core", "train", "sinusoid", "--algo", algo, "--iterations", "70000",
           "--meta-batch", "25", "--shots", "10", "--inner-steps", "1", "--inner-lr", "0.01", "--meta-lr", "0.001",
           "--seed", str(seed), "--eval-steps", "10", "--resume", "--no-compile", "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def figures(path: Path) -> tuple[float, list[float], list[float]]:
    """(validation score, val MSE at STEPS, test 5-shot MSE at STEPS) recorded in a checkpoint."""
    m = load_checkpoint(path).metrics
    val = next(iter(m.selection["val_scores"].values()))
    test = m.curves["test_k5"]["query_loss"][0]
    v = [float(val[s]) for s in STEPS]
    return sum(v) / len(v), v, [float(test[s]) for s in STEPS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--algo", default="maml", choices=["maml", "fomaml", "pretrain"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "logs" / "sinusoid_seeds")
    ap.add_argument("--existing", type=Path, action="append", default=[],
                    help="an already trained checkpoint to include (e.g. the shipped one)")
    ap.add_argument("--no-train", action="store_true", help="only report the checkpoints that exist")
    ap.add_argument("--ship", type=Path, help="copy the validation choice here")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    paths = list(args.existing)
    for seed in args.seeds:
        out = args.out_dir / f"sinusoid_{args.algo}_seed{seed}.pt"
        if not out.exists() and not args.no_train:
            train(args.algo, seed, out)
        if out.exists():
            paths.append(out)
    rows = [(p, *figures(p)) for p in paths]
    if not rows:
        sys.exit("no checkpoints to report")
    best = min(rows, key=lambda r: r[1])
    paper = PAPER_5SHOT.get(args.algo)
    print(f"\n{args.algo}: validation = mean val MSE (K=10, 200 tasks) after 1/5/10 steps; test = recorded 600-task "
          "5-shot query MSE")
    print("| checkpoint | seed | val score | val 1 / 5 / 10 | test 1 / 5 / 10 | test / paper |")
    print("|---|---|---|---|---|---|")
    for p, score, v, t in rows:
        seed = load_checkpoint(p).config.seed
        ratio = " / ".join(f"{a / b:.2f}" for a, b in zip(t, paper)) if paper else "—"
        mark = " **(chosen)**" if p == best[0] else ""
        print(f"| `{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}`{mark} | {seed} | {score:.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in v)} | {' / '.join(f'{x:.3f}' for x in t)} | {ratio} |")
    if paper:
        print(f"paper Table 2 (5-shot): {' / '.join(map(str, paper))}; target: each test figure <= 0.95 x paper")
    if args.ship and best[0].resolve() != args.ship.resolve():
        shutil.copyfile(best[0], args.ship)
        print(f"copied {best[0]} -> {args.ship}")


if __name__ == "__main__":
    main()
