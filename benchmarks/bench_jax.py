"""The compiled meta-step against a jitted JAX version of it, on one core. Prints figures; not a test.

    python -m benchmarks.bench_jax                     # 10,000 iterations, 2 rounds, a cold-cache run first
    python -m benchmarks.bench_jax --iterations 2000 --rounds 1

Every run is a process of its own pinned to CPU 0 (`taskset -c 0`), timed from launch to exit:

- JAX (`python -m benchmarks.bench_jax --reference`): the paper's 1-40-40-1 ReLU MLP (PyTorch's default
  initialisation), 25 tasks under `jax.vmap`, K = 10 support + 10 query points drawn inside the jitted step with
  `jax.random` (amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5]), one second-order inner step (alpha = 0.01), the
  mean query MSE differentiated with `jax.value_and_grad`, Adam (optax, 1e-3), all in one `jax.jit`. It prints its
  compile time (`jit(...).lower(...).compile()`) and its time per iteration (the 10,000 compiled steps, then one
  wait for the result); nothing is evaluated and no loss is read back while it runs. `jax` and `optax` are not
  dependencies: `pip install jax optax` to include it (without them only ours is measured).
- ours: `python -m maml_core train sinusoid --iterations N --compile --json ... --out ...`: the same protocol with
  tasks sampled on the host, the loss read back every iteration, the per-step query losses every 10th, then
  what `train` always does after training: test-time settings chosen on 200 validation tasks and adaptation curves
  on 600 held-out tasks for K = 5 and K = 10, and the checkpoint written. Its per-iteration time is its recorded
  training time less the compilation it records, over the iterations. Its first run uses an empty compiler cache
  (TORCHINDUCTOR_CACHE_DIR in a new temporary folder: the cold first-run cost, printed apart), the later ones
  that same folder (warm cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU = 0
META_BATCH, K, Q, ALPHA, BETA, HIDDEN = 25, 10, 10, 0.01, 1e-3, 40


def reference(iterations: int) -> dict[str, float]:
    """The JAX meta-training run in this process: compile seconds and ms per iteration."""
    import jax
    import jax.numpy as jnp
    import optax

    def linear(key, n_in, n_out):  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b
        kw, kb = jax.random.split(key)
        bound = 1.0 / n_in ** 0.5
        return (jax.random.uniform(kw, (n_in, n_out), minval=-bound, maxval=bound),
                jax.random.uniform(kb, (n_out,), minval=-bound, maxval=bound))

    def forward(params, x):  # x (P, 1)
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def mse(params, x, y):
        return jnp.mean((forward(params, x) - y) ** 2)

    def task_loss(params, sx, sy, qx, qy):  # second order: the inner gradient stays in the graph
        g = jax.grad(mse)(params, sx, sy)
        fast = jax.tree_util.tree_map(lambda p, gp: p - ALPHA * gp, params, g)
        return mse(fast, qx, qy)

    def sample(key):  # (B, K + Q, 1) points of B sinusoids
        ka, kp, kx = jax.random.split(key, 3)
        amp = jax.random.uniform(ka, (META_BATCH, 1, 1), minval=0.1, maxval=5.0)
        phase = jax.random.uniform(kp, (META_BATCH, 1, 1), minval=0.0, maxval=jnp.pi)
        x = jax.random.uniform(kx, (META_BATCH, K + Q, 1), minval=-5.0, maxval=5.0)
        y = amp * jnp.sin(x - phase)
        return x[:, :K], y[:, :K], x[:, K:], y[:, K:]

    def meta_loss(params, batch):
        return jnp.mean(jax.vmap(task_loss, in_axes=(None, 0, 0, 0, 0))(params, *batch))

    opt = optax.adam(BETA)

    def step(params, state, key):
        key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(meta_loss)(params, sample(sub))
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, key, loss

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    params = [linear(keys[0], 1, HIDDEN), linear(keys[1], HIDDEN, HIDDEN), linear(keys[2], HIDDEN, 1)]
    state, key = opt.init(params), keys[3]
    t0 = time.perf_counter()
    compiled = jax.jit(step).lower(params, state, key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(iterations):
        params, state, key, loss = compiled(params, state, key)
    loss.block_until_ready()
    run_s = time.perf_counter() - t0
    return {"compile_s": compile_s, "ms_per_iteration": 1000 * run_s / iterations, "final_loss": float(loss)}


def pinned(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """(seconds from launch to exit, stdout) of `cmd` run on CPU 0; raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(["taskset", "-c", str(CPU), *cmd], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return secs, proc.stdout


def have_jax() -> bool:
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as e:
        print(f"jax/optax: not importable ({e}); `pip install jax optax` to include the JAX reference")
        return False
    return True


def ours(n: int, tmp: Path, cache: Path) -> dict[str, float]:
    """One `train --compile` process: whole-process seconds, compile seconds, ms per iteration."""
    summary = tmp / "ours.json"
    wall, _ = pinned([sys.executable, "-m", "maml_core", "train", "sinusoid", "--iterations", str(n), "--compile",
                      "--json", str(summary), "--out", str(tmp / "ours.pt")],
                     env={"TORCHINDUCTOR_CACHE_DIR": str(cache)})
    info = json.loads(summary.read_text())["info"]
    train_s, compile_s = info["training_seconds"], info["compile_seconds"]
    return {"wall_s": wall, "compile_s": compile_s, "ms_per_iteration": 1000 * (train_s - compile_s) / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=10_000, help="meta-iterations per run (default 10000)")
    ap.add_argument("--rounds", type=int, default=2, help="warm runs of each, alternating (default 2)")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)  # one JAX process
    args = ap.parse_args()
    if args.reference:
        print(json.dumps(reference(args.iterations)))
        return 0
    if CPU not in os.sched_getaffinity(0) or not shutil.which("taskset"):
        sys.exit(f"needs taskset and CPU {CPU}")
    command = " ".join(["python -m benchmarks.bench_jax", *sys.argv[1:]])
    n = args.iterations
    print(f"{os.cpu_count()} cores (runs pinned to CPU {CPU}), load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with_jax = have_jax()
    runs: dict[str, list[dict[str, float]]] = {"jax": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "inductor"
        cold = ours(n, Path(tmp), cache)
        print(f"ours, cold compiler cache: {cold['wall_s']:.1f} s whole process, {cold['compile_s']:.1f} s compiling, "
              f"{cold['ms_per_iteration']:.2f} ms/iteration  (load {os.getloadavg()[0]:.2f})", flush=True)
        for r in range(args.rounds):
            if with_jax:
                wall, out = pinned([sys.executable, "-m", "benchmarks.bench_jax", "--reference", "--iterations",
                                    str(n)])
                j = {**json.loads(out.strip().splitlines()[-1]), "wall_s": wall}
                runs["jax"].append(j)
                print(f"round {r + 1}  jax   {j['wall_s']:6.1f} s whole process, {j['compile_s']:5.1f} s compiling, "
                      f"{j['ms_per_iteration']:.3f} ms/iteration  (load {os.getloadavg()[0]:.2f})", flush=True)
            o = ours(n, Path(tmp), cache)
            runs["ours"].append(o)
            print(f"round {r + 1}  ours  {o['wall_s']:6.1f} s whole process, {o['compile_s']:5.1f} s compiling, "
                  f"{o['ms_per_iteration']:.3f} ms/iteration  (load {os.getloadavg()[0]:.2f})", flush=True)
    best = {k: {f: min(r[f] for r in v) for f in v[0]} for k, v in runs.items() if v}
    o = best["ours"]
    print(f"\n{n} iterations on CPU {CPU}, best of {args.rounds} (ours with a warm compiler cache):")
    print(f"    ours `train --compile`: {o['ms_per_iteration']:.3f} ms/iteration, {o['compile_s']:.1f} s compiling, "
          f"{o['wall_s']:.1f} s whole process (training, validation, evaluation); cold cache: {cold['wall_s']:.1f} s")
    if "jax" in best:
        j = best["jax"]
        print(f"    JAX jit:                {j['ms_per_iteration']:.3f} ms/iteration, {j['compile_s']:.1f} s "
              f"compiling, {j['wall_s']:.1f} s whole process (training only)")
        per = o["ms_per_iteration"] / j["ms_per_iteration"]
        print(f"    meta-step, ours / JAX per iteration: {per:.2f}x   target <= 1.2x  "
              f"{'PASS' if per <= 1.2 else 'FAIL'}")
        whole = o["wall_s"] / j["wall_s"]
        print(f"    whole process, ours (warm) / JAX:    {whole:.2f}x   target <= 1x    "
              f"{'PASS' if whole <= 1 else 'FAIL'}")
    else:
        print("    JAX not measured (not installed)")
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
