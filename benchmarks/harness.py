"""What the benchmarks and the end-to-end tests share around a real app: weights to serve, a `streamlit run` on a
free loopback port (optionally pinned to some CPUs), Debian's chromium under Playwright, waiting for a rerun to
settle, opening a page by its url path, drawing strokes on a canvas.

Dependencies go one way: tests/ import this module; nothing here imports tests/. Page headings come from the app's
own page list (ui.common.PAGES), not copied here.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
HOME_HEADING = "MAML, visible"  # the default page's title is the app's name (app_pages/home.py), not "Home"


# --- weights -----------------------------------------------------------------------------------------------------

def synthetic_omniglot(n_chars: int = 30, n_alphabets: int = 5, seed: int = 0):
    """Random 'characters' (C, 20, 1, 28, 28) uint8 named like the real ones ('Alphabet_k/characterNN')."""
    import torch

    from maml_core import OmniglotData

    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n_chars, 20, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    names = tuple(f"Alphabet_{c % n_alphabets}/character{c // n_alphabets + 1:02d}" for c in range(n_chars))
    order = sorted(range(n_chars), key=lambda c: names[c])
    return OmniglotData(images[order], tuple(names[c] for c in order))


def quick_omniglot_checkpoints(folder: Path) -> Path:
    """maml / fomaml / transfer 5-way 1-shot checkpoints trained for a few iterations on synthetic data,
    under the file names the app expects (ui.common.OMNIGLOT_CHECKPOINTS)."""
    from maml_core import default_config, meta_train, save_checkpoint
    from maml_core.checkpoints import Headline, Metrics

    folder.mkdir(parents=True, exist_ok=True)
    data = synthetic_omniglot(40, 4)  # (the default 30 characters in 5 alphabets split into too few for 5 ways)
    small = dict(iterations=6, meta_batch=2, val_every=6, val_tasks=4, eval_steps=3, seed=0)
    fo = meta_train(default_config("omniglot", "fomaml", **small), data=data)
    metrics = Metrics(inner_lr=0.4, eval_steps=3, headline=Headline("accuracy", 0.912, 0.006, 3, 0.4, 600))
    save_checkpoint(folder / "omniglot_5w1s_fomaml.pt", fo.config, fo.params, metrics=metrics)
    save_checkpoint(folder / "omniglot_5w1s_maml.pt", fo.config.replace(algo="maml"), fo.params, metrics=metrics)
    tr = meta_train(default_config("omniglot", "transfer", **small), data=data)
    save_checkpoint(folder / "omniglot_5w1s_transfer.pt", tr.config, tr.params,
                    metrics=Metrics(inner_lr=0.1, eval_steps=3))
    return folder


def quick_assets(folder: Path) -> Path:
    """Tiny checkpoints for every file the app loads (used when the shipped assets/ are incomplete)."""
    from maml_core import default_config, meta_train, save_checkpoint
    from maml_core.checkpoints import Metrics

    quick_omniglot_checkpoints(folder)
    for algo in ("maml", "fomaml", "reptile", "pretrain"):
        r = meta_train(default_config("sinusoid", algo, iterations=30, meta_batch=5))
        save_checkpoint(folder / f"sinusoid_{algo}.pt", r.config, r.params,
                        metrics=Metrics(inner_lr=0.01, eval_steps=10))
    return folder


def app_assets(tmp: Path) -> Path:
    """$MAML_ASSETS_DIR if set, else the shipped assets/ when complete, else quick tiny checkpoints in tmp."""
    from ui import common

    if os.environ.get("MAML_ASSETS_DIR"):
        return Path(os.environ["MAML_ASSETS_DIR"]).resolve()
    names = [*common.SINUSOID_CHECKPOINTS.values(), *common.OMNIGLOT_CHECKPOINTS.values()]
    shipped = ROOT / "assets"
    if all((shipped / n).is_file() for n in names):
        return shipped
    return quick_assets(tmp)


def pick_assets(tmp: Path) -> tuple[Path, str]:
    """`app_assets` and a line saying which they are (for a benchmark's output)."""
    assets = app_assets(tmp / "assets")
    return assets, ("shipped assets/" if assets == ROOT / "assets" else "quick tiny checkpoints (assets/ incomplete)")


# --- the server ----------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(assets: Path, port: int, log: Path, extra_env: dict[str, str] | None = None,
                 script: Path | str = "app.py", cpus: Sequence[int] | None = None,
                 python: str = sys.executable) -> subprocess.Popen:
    """`streamlit run app.py` (or another `script`) on 127.0.0.1:port by `python` (another venv's, say), returned
    once /_stcore/health answers (or raises). `cpus`: run it under `taskset -c` (it and every process it starts,
    e.g. training processes, stay on those CPUs; taskset execs, so the pid is the server's)."""
    env = {**os.environ, "MAML_ASSETS_DIR": str(assets), **(extra_env or {})}
    cmd = [python, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    if cpus:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer on port {port} within 90 s: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def serving(assets: Path, log: Path, script: Path | str = "app.py",
            cpus: Sequence[int] | None = None) -> Iterator[tuple[subprocess.Popen, int]]:
    """A started server on a free port, stopped afterwards: (process, port)."""
    port = free_port()
    proc = start_server(assets, port, log, script=script, cpus=cpus)
    try:
        yield proc, port
    finally:
        stop_server(proc)


# --- one core ------------------------------------------------------------------------------------------------------

SERVER_CPU, CLIENT_CPU = 0, 1


def one_core(enabled: bool) -> list[int] | None:
    """A benchmark's --one-core: this process (the client, and the browser it launches, which inherit it) moves to
    CPU 1, and the CPUs to give `start_server` are returned ([0]: the server and its children on CPU 0). None when
    not enabled (nothing pinned). Call it first in main(), before any thread or browser is started."""
    if not enabled:
        return None
    if len(os.sched_getaffinity(0)) < 2 or not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"--one-core needs CPUs {SERVER_CPU} and {CLIENT_CPU} (this process may use "
                 f"{sorted(os.sched_getaffinity(0))})")
    os.sched_setaffinity(0, {CLIENT_CPU})
    return [SERVER_CPU]


def browser_benchmark_args(doc: str) -> tuple[argparse.Namespace, list[int] | None]:
    """A browser benchmark's command line (--repeats, --one-core) parsed, chromium checked and --one-core's pinning
    done: (the arguments, the CPUs for its servers)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per figure (default 7)")
    ap.add_argument("--one-core", action="store_true",
                    help="servers (and their children) on CPU 0, this client and the browser on CPU 1")
    args = ap.parse_args()
    cpus = one_core(args.one_core)
    need_chromium()
    return args, cpus


def cores_label(server_cpus: Sequence[int] | None) -> str:
    """How many cores the server had, for a benchmark's output ("1 core" under --one-core)."""
    n = len(server_cpus) if server_cpus else len(os.sched_getaffinity(0))
    return f"{n} core" + ("" if n == 1 else "s")


# --- the browser ---------------------------------------------------------------------------------------------------

def need_chromium() -> None:
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")


@contextmanager
def launch_chromium():
    """Debian's chromium under Playwright, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_page(browser, timeout_ms: int = 60_000, **context):
    """A new browser context (1400 x 1000 unless `context` says otherwise) and its page: (context, page)."""
    ctx = browser.new_context(**({"viewport": VIEWPORT} | context))
    page = ctx.new_page()
    page.set_default_timeout(timeout_ms)
    return ctx, page


def settle(page, quiet_ms: int = 600, timeout_s: float = 60) -> None:
    """Wait until the app has finished its rerun (the "Running…" status widget stays gone)."""
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_ms / 1000:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the app kept running for more than {timeout_s} s")


@cache
def page_headings() -> dict[str, str]:
    """url path -> the title the page shows, for every page of the app (ui.common.PAGES; the default page is "")."""
    from ui.common import PAGES

    return {("" if default else Path(file).stem): (HOME_HEADING if default else title)
            for file, title, _icon, default in PAGES}


def open_page(page, base: str, path: str) -> None:
    """Go to the app's page at url `path` ("" for the default page) and wait for its heading and its rerun."""
    page.goto(f"{base}/{path}")
    page.get_by_role("heading", name=page_headings()[path]).first.wait_for()
    settle(page)


def wait_for_chart_clicks(page) -> None:
    """Until the chart-click listener (ui/chart_click.py) has loaded: its component's script loads asynchronously,
    after the run that drew the page. (One CI run failed on a first click that added no point, in about ten runs of
    this test; this wait rules out a click that came before the listener.)"""
    page.wait_for_function("() => window.__mamlChartClickListener === true && "
                           "Object.keys(window.__mamlChartClicks || {}).length > 0", timeout=30_000)


def click_chart(chart, fx: float, fy: float) -> None:
    """Click the chart at a fraction of its size. Playwright scrolls it into view and finds the point just before
    clicking, once the chart has stopped moving: a box measured earlier can be stale, as the page may still shift
    after its run (a click 12 px above the viewport was once taken for a lost click)."""
    box = chart.bounding_box()
    chart.click(position={"x": box["width"] * fx, "y": box["height"] * fy})


# Strokes in canvas fractions: a distinct made-up character per class; the query is another, sloppier
# drawing of class 2's.
STROKES = [
    [[(0.2, 0.2), (0.8, 0.8)], [(0.8, 0.2), (0.2, 0.8)]],  # X
    [[(0.5, 0.15), (0.5, 0.85)], [(0.2, 0.3), (0.8, 0.3)]],  # a T-like cross
    [[(0.2, 0.8), (0.5, 0.2), (0.8, 0.8)]],  # an inverted V
    [[(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.3)]],  # a box
    [[(0.15, 0.4), (0.35, 0.7), (0.55, 0.3), (0.85, 0.6)]],  # a zigzag
]
QUERY = [[(0.45, 0.2), (0.55, 0.85)], [(0.15, 0.35), (0.8, 0.25)]]  # class 2 again: a slanted cross


def draw(page, canvas, strokes) -> None:
    """Draw strokes (lists of points in canvas fractions) with the mouse, like a person: hover first (the
    canvas's toolbar only moves out of the way once the pointer is over it), then press, drag, release."""
    canvas.scroll_into_view_if_needed()
    canvas.hover()
    page.wait_for_timeout(400)
    box = canvas.bounding_box()
    assert box, "canvas not visible"
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for (xa, ya), (xb, yb) in zip(stroke[:-1], stroke[1:]):
            for t in (0.25, 0.5, 0.75, 1.0):
                page.mouse.move(box["x"] + (xa + t * (xb - xa)) * box["width"],
                                box["y"] + (ya + t * (yb - ya)) * box["height"])
        page.mouse.up()
        settle(page, quiet_ms=300)


# --- timing in the browser -------------------------------------------------------------------------------------------

# The first Plotly chart's line paths (a `st.plotly_chart` or ui/live_chart.py's), as one string: it changes
# exactly when the chart is redrawn with new data.
CHART_PATHS = """() => { const c = document.querySelector('.js-plotly-plot .main-svg');
    return c ? [...c.querySelectorAll('.scatterlayer path.js-line')].map(p => p.getAttribute('d')).join('|') : ''; }"""


def wait_chart_changed(page, before: str) -> None:
    """Until the first chart's lines differ from `before` (and it has lines), polled on every animation frame."""
    page.wait_for_function(f"b => ({CHART_PATHS})() !== b && ({CHART_PATHS})().length > 0", arg=before,
                           timeout=60_000)


def first_chart(page, url: str) -> float:
    """Seconds from opening `url` to its first Plotly chart drawn with lines."""
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => ({CHART_PATHS})().length > 0", timeout=120_000)
    return time.perf_counter() - t


def slider_to_chart(page, label: str, repeats: int) -> list[float]:
    """Move the slider `label` one step (keyboard) and time until the first chart's lines change."""
    times = []
    thumb = page.get_by_role("slider", name=label).first
    for i in range(repeats):
        thumb.focus()
        before = page.evaluate(CHART_PATHS)
        t = time.perf_counter()
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        wait_chart_changed(page, before)
        times.append(time.perf_counter() - t)
        settle(page, quiet_ms=400)
    return times


@contextmanager
def serving_floor(source: str, tmp: Path, cpus: Sequence[int] | None = None) -> Iterator[tuple[float, int]]:
    """A bare Streamlit page (the Python `source`, written to tmp) served by its own `streamlit run`, stopped
    afterwards: (seconds to its health check, port)."""
    app = tmp / "floor_app.py"
    app.write_text(source)
    t = time.perf_counter()
    with serving(tmp, tmp / "floor.log", script=app, cpus=cpus) as (_, port):
        yield time.perf_counter() - t, port
