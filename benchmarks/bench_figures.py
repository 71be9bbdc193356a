"""What building and sending a chart costs the server on every rerun, in one run: the Sinusoid page's two charts
(prediction and loss, 3 shipped methods x 10 inner steps) and the Omniglot page's three, each
(1) as `ui.figures.Figure` (the dicts as written; what the pages do) and
(2) through plotly's figure objects (validated and copied; what `st.plotly_chart` does with a dict or a
    `go.Figure`, and what the pages did before).
Both include what `st.plotly_chart` does with the figure (`plotly.tools.return_figure_from_figure_or_data`,
then `plotly.io.to_json`). Median of repeats; both paths give the same JSON (tests/test_figures.py).

Usage: python -m benchmarks.bench_figures [--repeats 50]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

# "no runtime" warnings: the views run here without a Streamlit server (set before they are imported)
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
import plotly.tools  # noqa: E402
import torch  # noqa: E402

from benchmarks.harness import ROOT  # noqa: E402
from maml_core import load_checkpoint  # noqa: E402
from ui import omniglot_view as ov  # noqa: E402
from ui import sinusoid_view as sv  # noqa: E402


def sent(fig) -> str:
    """What `st.plotly_chart(fig)` does to it before it goes out."""
    return pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    methods = []
    for key in ("maml", "fomaml", "pretrain"):
        ck = load_checkpoint(ROOT / "assets" / f"sinusoid_{key}.pt")
        methods.append(sv.MethodModel(key, ck.model, ck.params, ck.inner_lr, "", key))
    px = np.linspace(-4, 4, 5)
    py = 3 * np.sin(px - 0.5)
    res = sv.adapt_methods(methods, px, py, 3.0, 0.5, 10)
    sinusoid = lambda: [sv.prediction_figure(res, px, py, 3.0, 0.5, 10), sv.loss_figure(res, 10)]  # noqa: E731
    probs = torch.softmax(torch.randn(11, 5, 5), -1)
    runs = {k: ov.MethodRun(k, 0.4, 10, probs, torch.linspace(1.6, 0.01, 11), torch.linspace(0.2, 1, 11))
            for k in ("maml", "fomaml", "transfer")}
    omniglot = lambda: [ov.probability_figure(runs, 0, 5, 1, 10), ov.curve_figure(runs, "support_loss", 10),  # noqa: E731
                        ov.curve_figure(runs, "query_acc", 10)]
    print(f"{'charts':<28} | {'as dicts (now)':>14} | {'plotly objects':>14} | ratio")
    for name, build in (("Sinusoid (2 charts)", sinusoid), ("Omniglot (3 charts)", omniglot)):
        now = median_ms(lambda build=build: [sent(f) for f in build()], args.repeats)
        before = median_ms(lambda build=build: [sent(go.Figure(f.to_dict())) for f in build()], args.repeats)
        print(f"{name:<28} | {now:11.1f} ms | {before:11.1f} ms | {before / now:4.0f}x")
    print(f"\nmedian of {args.repeats}; torch {torch.__version__}, 1 thread")


if __name__ == "__main__":
    main()
