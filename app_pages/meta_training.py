"""Meta-training, live: train sinusoid MAML / FO-MAML / the pretrained baseline (and a small Omniglot run) in the
browser and watch the initialisation become good at adapting.

A view only: a run is a `LiveRun` (ui/training_view.py: a child process, or a server thread where memory is short,
stepping every method, in lockstep by default) that waits its turn in the server's queue (ui/run_queue.py); this page
submits and stops it and polls its progress in fragments that re-draw while it waits or trains: progress and loss
curves every second, probe snapshots every few seconds (a re-drawn chart costs the browser more than the training's
own core can spare on a small machine: measured in benchmarks/bench_live.py).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from maml_core import CheckpointError, DataError, default_config, split
from ui import browser, common, figures, run_queue, run_store, scene, train_worker
from ui import training_view as tv
from ui.lesson import lesson_bar
from ui.page_state import MetaTrainingState

ss = st.session_state
SIN_ALGOS = ("maml", "fomaml", "reptile", "pretrain")
P = common.PERSIST

train_worker.warm_up()  # the training processes' fork server (if runs train in processes) starts now, not on Start

# This page's scene is only the projector switch (a lecturer's link with ?big=1 opens it in large fonts).
restored = scene.restore([scene.LARGE_FONTS], MetaTrainingState.of(ss))
lesson_bar()  # while a lesson is presented: where it is, PageDown / PageUp (ui/lesson.py)
with st.sidebar:
    st.header("Settings")
    seed = common.seed_input()
    large = common.large_fonts_toggle()
common.apply_theme(large)
if large:  # projector: less empty band above the title, so that the live curves fit under the fold at 1080p
    st.markdown("<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem;}</style>", unsafe_allow_html=True)
restored.show()
scene.publish([scene.LARGE_FONTS])


def initial(key: str, value) -> dict:
    """A widget's default, given only when the session has no value for it: a session state default set before
    the widget would replace the value the browser sends (after a server restart the page still shows 300
    iterations, and the first click would silently turn them into 2000)."""
    return {} if key in ss else {"value": value}


def current_run() -> tv.LiveRun | None:
    return ss.get("mt_run")


def collect(run: tv.LiveRun) -> None:
    """Once a run has ended: keep its weights in this session, usable on the Sinusoid (or Omniglot) page."""
    if run.collected or run.active:
        return
    for algo, (ckpt, label) in run.checkpoints().items():
        common.store_trained_run(run.problem, algo, ckpt, label, file=tv.checkpoint_file(ckpt),
                                 filename=tv.file_name(ckpt), run_id=run.id, along=run.weights_along(algo))
    run.collected = True


def kind_of(problem: str) -> str:
    return "sinusoid" if problem == "Sinusoid" else "omniglot"


def lost_runs() -> str:
    """Once per session, on its first run: "restart" when the runs this browser kept were on a server process that
    is gone, "evicted" when this server dropped them to make room, else ""."""
    if "mt_lost" not in ss:
        were_on = browser.runs_were_on()
        kept = run_store.STORE.has(browser.browser_id())
        ss.mt_lost = "" if not were_on or kept else "restart" if were_on != run_store.SERVER_ID else "evicted"
    return ss.mt_lost


LOST = {
    "restart": "**Your earlier run is gone: this server restarted since it finished.** A restart empties the "
               "server's memory (on Streamlit Community Cloud every wake is a fresh server), and runs are kept only "
               "there. If you downloaded its checkpoint, upload it below to use it again; otherwise press Start "
               "training for a new run.",
    "evicted": f"**Your earlier run is no longer kept:** this server keeps the runs of the "
               f"{run_store.MAX_BROWSERS} browsers that trained most recently, and yours was dropped to make room. "
               "If you downloaded its checkpoint, upload it below; otherwise press Start training for a new run.",
}


def on_start() -> None:
    run = current_run()
    if run is not None and run.active:
        ss.mt_notice = ("warning", "A run is already going: stop it first.")
        return
    problem = ss.get("mt_problem", "Sinusoid")
    seed = int(ss.get("seed", 0))  # the session's value: a callback runs before the page, whose `seed` is stale
    try:
        if problem == "Sinusoid":
            algos = [a for a in SIN_ALGOS if a in ss.get("mt_algos", [])]
            if not algos:
                ss.mt_notice = ("warning", "Choose at least one algorithm to train.")
                return
            configs = tv.sinusoid_configs(algos, iterations=ss.mt_iterations, meta_batch=ss.mt_meta_batch,
                                          inner_steps=ss.mt_train_steps, inner_lr=ss.mt_alpha, meta_lr=ss.mt_beta,
                                          seed=seed)
            kwargs = dict(max_seconds=tv.SINUSOID_MAX_SECONDS, snapshot_every=ss.mt_snapshot_every,
                          pace=ss.get("mt_pace", "lockstep"))
            name = "sinusoid"
        else:
            algo = ss.get("mt_omni_algo", "fomaml")
            config = tv.omniglot_config(algo, iterations=ss.mt_omni_iterations, meta_batch=ss.mt_omni_meta_batch,
                                        seed=seed, data_dir=str(common.DATA_DIR))
            data = split(common.load_omniglot_cached(str(common.DATA_DIR)), config.omniglot)
            configs = {algo: config}
            kwargs = dict(max_seconds=tv.OMNIGLOT_MAX_SECONDS, data=data)
            name = "omniglot"
    except (DataError, ValueError) as e:
        ss.mt_notice = ("error", f"Could not start: {e}")
        return
    ctx = get_script_run_ctx()
    ss.mt_notice = None
    # the server's queue starts it now or when a slot frees; it ends with this browser session
    ss.mt_run = run_queue.QUEUE.submit(tv.LiveRun(name, configs, owner=ctx.session_id if ctx else "", **kwargs))


def on_stop() -> None:
    run = current_run()
    if run is not None:
        run_queue.QUEUE.leave(run, "the stop button" if run.running else "you left the queue")


# --- page -----------------------------------------------------------------------------------------------------------
st.title("Meta-training, live")
st.markdown("Train MAML from scratch, here and now. Every few hundred iterations the current initialisation is "
            "copied and adapted to a fixed **probe task** it never trains on: at first it fits nothing even after "
            "10 steps; as meta-training goes on, those 10 steps fit the probe better and better. That is what MAML "
            "learns: not an answer, but a starting point that adapts.")

run = current_run()
running = run is not None and run.active  # queued or training: the settings are locked
if run is not None and not running:
    collect(run)

# While a run waits or trains its settings (the problem too) are locked: folded away, so that the progress and the
# live curves sit under the Stop button on a 1080p projector.
settings = (st.expander("Settings of this run (locked while it waits or trains)", expanded=False) if running
            else st.container(border=True))
with settings if running else st.container():
    problem = st.radio("Problem", ["Sinusoid", "Omniglot (small run)"], key="mt_problem", persist_state=P,
                       disabled=running, horizontal=True)
with settings:
    if problem == "Sinusoid":
        c1, c2, c3, c4 = st.columns([2.6, 1, 1, 1])
        c1.multiselect("Algorithms (trained side by side)", list(SIN_ALGOS), key="mt_algos", persist_state=P,
                       **({} if "mt_algos" in ss else {"default": [a for a in SIN_ALGOS if a != "reptile"]}),
                       format_func=lambda a: common.METHOD_LABELS[a], disabled=running)
        c2.number_input("Iterations", 100, tv.SINUSOID_MAX_ITERATIONS, step=100, key="mt_iterations",
                        **initial("mt_iterations", 2000),
                        persist_state=P, disabled=running,
                        help=f"Outer updates per algorithm (paper: 70,000; here at most "
                             f"{tv.SINUSOID_MAX_ITERATIONS:,} and {tv.SINUSOID_MAX_SECONDS / 60:.0f} minutes).")
        c3.number_input("Meta-batch (tasks)", 1, 50, step=1, key="mt_meta_batch",
                        **initial("mt_meta_batch", 25), persist_state=P,
                        disabled=running, help="Tasks per meta-update (paper: 25).")
        c4.number_input("Snapshot every", 50, 5000, step=50, key="mt_snapshot_every",
                        **initial("mt_snapshot_every", 250), persist_state=P,
                        disabled=running, help="Iterations between probe-task snapshots.")
        d1, d2, d3, d4 = st.columns([1, 1, 1, 2.2])
        d1.number_input("Inner steps", 1, 5, step=1, key="mt_train_steps",
                        **initial("mt_train_steps", 1), persist_state=P, disabled=running,
                        help="Inner gradient steps during meta-training (paper: 1). Snapshots always take 10.")
        d2.number_input("Inner learning rate α", 0.0001, 0.5, step=0.005, format="%.4f", key="mt_alpha",
                        **initial("mt_alpha", 0.01),
                        persist_state=P, disabled=running, help="Paper: 0.01.")
        d3.number_input("Meta learning rate β", 0.00001, 0.05, step=0.0005, format="%.5f", key="mt_beta",
                        **initial("mt_beta", 0.001),
                        persist_state=P, disabled=running, help="Adam step size for the outer update (paper: 0.001).")
        d4.radio("Pace", list(tv.PACES), key="mt_pace", persist_state=P, disabled=running, horizontal=True,
                 format_func=lambda p: {"lockstep": "Same iterations", "wallclock": "Same time"}[p],
                 help="Same iterations (fair, the default): the methods take turns, one update each, so at any "
                      "moment all have had the same number of updates. Same time: each gets equal seconds, so the "
                      "cheaper methods (the pretrained baseline, FO-MAML) do more updates than MAML and Reptile.")
        if "reptile" in ss.get("mt_algos", []):
            r = default_config("sinusoid", "reptile")
            st.caption(f"**Reptile** trains with its own settings (Nichol, Achiam & Schulman, 2018): k = "
                       f"{r.inner_steps} plain SGD steps of α = {r.inner_lr:g} on each task's points, then θ moves "
                       f"a fraction ε of the way to the tasks' mean adapted weights (ε from {r.outer_step:g} down "
                       "to 0 over the run, no Adam), so the inner steps, α and β above are the other methods'. "
                       "One Reptile update counts as one iteration, like one outer update of the others.")
        can_start = True
    else:
        st.info(f"**A small run, clearly not the paper's**: 5-way 1-shot Omniglot for at most "
                f"{tv.OMNIGLOT_MAX_ITERATIONS} iterations and {tv.OMNIGLOT_MAX_SECONDS / 60:.0f} minutes (the paper "
                "trains 60,000 iterations with 32 tasks each; the shipped model took hours). Expect the accuracy to "
                "climb from chance (20%) towards 50–80%, not to the paper's 98.7%.", icon=":material/science:")
        c1, c2, c3 = st.columns(3)
        c1.radio("Algorithm", ["fomaml", "maml"], key="mt_omni_algo", persist_state=P, horizontal=True,
                 format_func=lambda a: common.METHOD_LABELS[a], disabled=running,
                 help="Second-order MAML is about 3x slower per iteration on a CPU.")
        c2.number_input("Iterations", 10, tv.OMNIGLOT_MAX_ITERATIONS, step=10, key="mt_omni_iterations",
                        **initial("mt_omni_iterations", 100),
                        persist_state=P, disabled=running)
        c3.number_input("Meta-batch (tasks)", 1, 32, step=1, key="mt_omni_meta_batch",
                        **initial("mt_omni_meta_batch", 8), persist_state=P,
                        disabled=running, help="Paper: 32. Smaller is faster and noisier.")
        can_start = common.omniglot_archives_present()
        if not can_start:
            st.warning(f"The Omniglot data is not on this server (looked in `{common.DATA_DIR}`). Set the "
                       "environment variable `MAML_DATA_DIR` to a folder holding the official archives "
                       "(`images_background.zip` and `images_evaluation.zip`, or `images_background_small1/2.zip`), "
                       "or fetch them with `python -m maml_core download --data-dir DIR`. The sinusoid run works "
                       "without it.", icon=":material/folder_off:")
b1, b2, b3 = st.columns([1, 1, 3], vertical_alignment="center")
b1.button("Start training", icon=":material/play_arrow:", key="mt_start", type="primary", on_click=on_start,
          disabled=running or not can_start, width="stretch")
queued = run is not None and run.queued
b2.button("Leave the queue" if queued else "Stop", icon=":material/stop:", key="mt_stop", on_click=on_stop,
          disabled=not running, width="stretch")
training, waiting = run_queue.QUEUE.counts()
slots = run_queue.QUEUE.slots
b3.caption(f"Seed {seed} (sidebar). Runs stop by themselves after "
           f"{tv.SINUSOID_MAX_SECONDS / 60:.0f} min (sinusoid) or {tv.OMNIGLOT_MAX_SECONDS / 60:.0f} min "
           f"(Omniglot). This server trains {slots} run{'s' if slots != 1 else ''} at a time and queues the "
           f"rest (now: {training} training, {waiting} waiting).")

notice = ss.get("mt_notice")
if notice:
    getattr(st, notice[0])(notice[1])


CURVES_EVERY_S = 2.0  # the curves' refresh while training
LIVE_EVERY_S = 1.0  # the bars'


@st.fragment(run_every=LIVE_EVERY_S if running else None)
def live_panel(was_queued: bool, was_running: bool) -> None:
    """The current run's place in line or its progress bars; re-drawn every second while it waits or trains."""
    run = current_run()
    if run is None:
        if lost_runs():
            st.warning(LOST[lost_runs()], icon=":material/restart_alt:")
        elif common.trained_runs(kind_of(ss.get("mt_problem", "Sinusoid"))):
            st.progress(0.0, text="No run training now: the run this browser trained earlier is kept below. Press "
                                  "Start training for a new one.")
        else:
            st.progress(0.0, text="No run yet: choose the settings above and press Start training.")
        return
    # A run in its last second is waited for (its end drawn at once), from the panel's own polls only: the draw just
    # after Start must not wait, since the page's elements from before it stay on screen until that draw ends.
    if (was_running and not run.active) or (was_queued and not run.queued) or (
            was_running and run.elapsed >= LIVE_EVERY_S and run.wait_if_ending(LIVE_EVERY_S)):
        st.rerun()  # the run just started or ended: redraw the whole page (buttons, results), stop polling at the end
    if run.queued:
        place = run_queue.QUEUE.place(run)
        if place is not None:
            wait = "any moment now" if place.wait_s < 1 else f"in about {common.duration(place.wait_s)}"
            st.info(f"**Waiting for a free slot: you are number {place.position} in line.** Expected start: {wait} "
                    f"({place.ahead} run{'s' if place.ahead != 1 else ''} ahead of yours; this server trains "
                    f"{place.slots} at a time). Keep this tab open: your run starts by itself, and closing the "
                    "tab gives your place up.", icon=":material/hourglass_top:")
        return
    view = run.view()
    st.markdown(f"**{'Omniglot 5-way 1-shot (small run)' if run.problem == 'omniglot' else 'Sinusoid'}** · "
                + ("stopping…" if run.stopping else "training…" if run.running
                   else f"not run: {run.cancelled}" if run.cancelled else "finished")
                + f" · {run.elapsed:.0f} s of at most {run.max_seconds:.0f} s")
    # one bar per method, side by side while it trains (one row, not three: the curves stay above a 1080p fold)
    cols = st.columns(len(view)) if run.running and len(view) > 1 else [st.container() for _ in view]
    for col, (algo, p) in zip(cols, view.items()):
        status = {"waiting": " · starting…", "running": "", "done": " · done", "stopped": f" · {p.message}",
                  "error": " · failed"}[p.status] or ("" if p.losses else " · starting…")
        figures_now = (f" · {p.its_per_sec:,.0f} it/s · {tv.PROGRESS_LOSS.get(algo, 'meta-loss')} {p.losses[-1]:.3g}"
                       if p.losses else "")  # (no rate or loss before an iteration)
        col.progress(min(p.iteration / max(p.iterations, 1), 1.0),
                     text=f"**{common.METHOD_LABELS.get(algo, algo)}**: {p.iteration:,} / {p.iterations:,} "
                          f"iterations{figures_now}{status}")
    for algo, p in view.items():
        if p.status == "error":
            st.error(f"{common.METHOD_LABELS.get(algo, algo)} stopped with an error: {p.message}")
        elif p.losses and not all(map(lambda v: v == v and v < 1e6, p.losses[-20:])):
            st.warning(f"{common.METHOD_LABELS.get(algo, algo)}: the meta-loss is exploding or not a number. "
                       "The learning rates are too large: stop, lower α or β, and start again. (The chart clips it.)")


@st.fragment(run_every=CURVES_EVERY_S if running else None)
def curves_panel() -> None:
    """The meta-loss (and Omniglot accuracy) curves: re-drawn every CURVES_EVERY_S seconds while training. The
    progress bars above move every second; the curves, the costly part to draw (a Plotly figure built on the
    server and drawn in the browser, on the cores the training uses), less often."""
    run = current_run()
    if run is None or run.queued:
        st.plotly_chart(figures.empty("The meta-loss curves appear here while a run trains." if run is None else
                                      "Your run's meta-loss curves appear here once it starts.", 380),
                        key="mt_loss_chart", config=figures.PLOTLY_CONFIG)
        return
    view = run.view()
    if not any(p.losses for p in view.values()):
        st.plotly_chart(figures.empty(f"The meta-loss curves are drawn here every {CURVES_EVERY_S:g} s while the "
                                      "run trains.", 380),
                        key="mt_loss_chart", config=figures.PLOTLY_CONFIG)
    elif run.problem == "omniglot":
        st.plotly_chart(tv.accuracy_figure(view, tv.OMNIGLOT_VAL_TASKS), key="mt_acc_chart",
                        config=figures.PLOTLY_CONFIG)
        st.plotly_chart(tv.loss_figure(view, "omniglot", height=300), key="mt_loss_chart",
                        config=figures.PLOTLY_CONFIG)
    else:
        st.plotly_chart(tv.loss_figure(view, "sinusoid"), key="mt_loss_chart", config=figures.PLOTLY_CONFIG)
        st.caption(tv.pace_caption(run.pace, view))


@st.fragment(run_every=2.5 if running else None)
def snapshot_panel() -> None:
    """The probe-task snapshots (a new one every few hundred iterations): re-drawn every 2.5 s while training."""
    run = current_run()
    if run is None:
        st.markdown("**Snapshots: the initialisation adapting to a probe task.**")
        st.plotly_chart(figures.empty("Snapshots of the initialisation adapting to a probe task appear here.",
                                        420), key="mt_snapshot_chart", config=figures.PLOTLY_CONFIG)
        return
    if run.problem != "sinusoid" or run.queued:
        return
    view = run.view()
    st.markdown(f"**Snapshots: the initialisation adapting to a probe task.** {tv.snapshot_caption(view)}")
    drawn = (run.id, run.running, common.font_size(), tuple(len(p.snapshots) for p in view.values()))
    if ss.get("mt_snapshot_drawn", (None,))[0] != drawn:  # built again only when a snapshot arrived
        ss.mt_snapshot_drawn = (drawn, tv.snapshot_figure(view, animate=not run.running))
    st.plotly_chart(ss.mt_snapshot_drawn[1], key="mt_snapshot_chart", config=figures.PLOTLY_CONFIG)
    st.caption(f"Probe task: A = {tv.PROBE_AMPLITUDE}, φ = {tv.PROBE_PHASE}, 10 fixed support points, never "
               f"used for training. Dotted: the initialisation's prediction; solid: after {tv.PROBE_STEPS} "
               "inner steps. The right-hand chart above is the solid curve's error at every snapshot.")


live_panel(run is not None and run.queued, running)
curves_panel()
snapshot_panel()

run = current_run()
if run is None or not run.active:
    kind = kind_of(problem)
    runs = common.trained_runs(kind)
    kept = run_store.STORE.has(browser.browser_id())
    if runs:
        fresh = run is not None and all(r.get("run_id") == run.id for r in runs.values())
        where = ("kept on this server for this browser: a reload keeps them, a server restart does not, so "
                 "download them to keep them" if kept else
                 "kept for this browser session only (this browser gave the page no id: cookies or scripts are "
                 "blocked), so a reload loses them: download them to keep them")
        st.success(("Finished. Your weights are " if fresh else "Your trained weights are ") + where + ":\n\n- "
                   + "\n- ".join(r["label"] for r in runs.values()))
        cols = st.columns(max(len(runs), 3))
        for col, (algo, r) in zip(cols, runs.items()):
            if r.get("file"):
                col.download_button(f"Download {common.METHOD_LABELS.get(algo, algo).split(' (')[0]}", r["file"],
                                    file_name=r["filename"], mime="application/octet-stream", key=f"mt_dl_{algo}",
                                    icon=":material/download:", on_click="ignore", width="stretch")
        target, prefix = (("app_pages/sinusoid.py", "sin_src_") if kind == "sinusoid"
                          else ("app_pages/omniglot.py", "omni_src_"))

        def use_mine() -> None:
            for a in runs:
                ss[f"{prefix}{a}"] = "mine"

        page_name = "Sinusoid" if kind == "sinusoid" else "Omniglot"
        if st.button(f"Use my trained model(s) on the {page_name} page", icon=":material/arrow_forward:",
                     key="mt_use", on_click=use_mine):
            st.switch_page(target)
    upload = st.file_uploader(f"Use a {kind} checkpoint you downloaded from this page (.pt, at most "
                              f"{tv.UPLOAD_MAX_BYTES / 1e6:.0f} MB)", type=["pt"], key=f"mt_upload_{kind}",
                              max_upload_size=int(tv.UPLOAD_MAX_BYTES // 1_000_000),
                              help="It is checked before it is used: only tensors and numbers are read (nothing "
                                   "in the file runs), and they must be exactly this page's network.")
    if upload is not None and ss.get("mt_uploaded") != upload.file_id:
        try:
            algo, ckpt, label = tv.load_upload(upload.getvalue(), upload.name, kind)
        except CheckpointError as e:
            ss.mt_upload_note = ("error", f"Not used: {e}")
        else:
            common.store_trained_run(kind, algo, ckpt, label, file=upload.getvalue(), filename=upload.name,
                                     run_id="upload")
            ss.mt_upload_note = ("success", f"Loaded {label}. It is listed above, ready to use.")
            ss.mt_lost = ""
        ss.mt_uploaded = upload.file_id
        st.rerun()
    note = ss.get("mt_upload_note")
    if note and upload is not None:
        getattr(st, note[0])(note[1])

# the browser's id and where its runs are kept (draws nothing)
browser.sync(runs_here=run_store.STORE.has(browser.browser_id()), forget=bool(lost_runs()))
