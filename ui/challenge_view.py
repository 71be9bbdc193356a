"""The Human vs MAML page's pieces: its per-user state, the clickable tiles' style, and every sentence and table of
the comparison, read off the numbers (app_pages/challenge.py lays them out; maml_core.challenge scores the
networks). No widgets here: tests call these with plain values.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import ClassVar

from torch import Tensor

from maml_core import describe_lr
from maml_core.challenge import (
    LAKE_2015_HUMAN_ERROR,
    LAKE_2015_WAYS,
    Challenge,
    MethodScore,
    sign_test,
    wilson_interval,
)
from ui import common, scene
from ui.omniglot_view import img_tag, tile_png
from ui.page_state import PageState

WAYS = (5, 20)
TRIALS = (5, 10, 20)
DEFAULT_TRIALS = 5  # a show of hands in a lecture: a few minutes
PICK_PREFIX = "ch_pick_"  # + "<trial>_<class>": one button per support drawing of one trial
WIDGETS = ("ch_ways", "ch_trials", "ch_new", "ch_undo", "ch_download", "ch_again", PICK_PREFIX + "<trial>_<class>")
LAKE_CITATION = ("Lake, Salakhutdinov & Tenenbaum, “Human-level concept learning through probabilistic program "
                 "induction”, *Science* 350, 1332–1338 (2015)")


def challenge_seed(seed: int, number: int) -> int:
    """The trials' seed: the sidebar's seed and the challenge's number (the same pair always gives the same trials)."""
    return int(seed) * 100_003 + int(number)


@dataclass
class ChallengeState(PageState):
    """The Human vs MAML page (app_pages/challenge.py), under `st.session_state["challenge"]`. Ways and trials are
    widgets (`ch_ways`, `ch_trials`); the seed is the shared sidebar's."""

    KEY: ClassVar[str] = "challenge"

    number: int = 0  # the challenge shown, from 0 ("New challenge" adds one; the URL counts from 1)
    # (ways, trials, seed, number) -> the person's answers so far, class indices: another choice of ways or trials
    # opens another challenge and coming back finds these answers where they were
    answers: dict[tuple[int, int, int, int], list[int]] = field(default_factory=dict)
    # (challenge key, the networks' weights) -> each network's answers, computed once the person has answered all
    scores: dict[tuple, dict[str, MethodScore]] = field(default_factory=dict)

    def key(self, ways: int, trials: int, seed: int) -> tuple[int, int, int, int]:
        return int(ways), int(trials), int(seed), int(self.number)


def scene_params() -> list[scene.Param]:
    """The page's link: ways, trials, the challenge's number, the seed and the projector switch (never the answers:
    a link opens the same questions unanswered, for whoever opens it)."""
    return [
        scene.Param("N", "ways", scene.one("ch_ways", scene.choice(WAYS)), lambda ss: [str(ss.get("ch_ways", 5))]),
        scene.Param("T", "trials", scene.one("ch_trials", scene.choice(TRIALS)),
                    lambda ss: [str(ss.get("ch_trials", DEFAULT_TRIALS))]),
        scene.Param("ch", "challenge", lambda v: {"number": scene.number(1, 10**6, integer=True)(v[-1]) - 1},
                    lambda ss: [str(ChallengeState.of(ss).number + 1)], page_state=True),
        scene.Param("seed", "random seed", scene.one("seed", scene.number(0, 2**31 - 1, integer=True)),
                    lambda ss: [str(ss.get("seed", 0))]),
        scene.LARGE_FONTS,
    ]


# --- the tiles ------------------------------------------------------------------------------------------------

def tile_size(n_way: int, large: bool) -> tuple[int, int]:
    """(support tile, query tile) in pixels. Projector mode (1920 x 1080): 5 large tiles, or 20 in two rows of ten,
    with the query beside them, all on the first screen."""
    if n_way <= 5:
        return (180, 200) if large else (96, 144)
    return (96, 144) if large else (72, 120)


def pick_css(keys_and_images: list[tuple[str, Tensor]], size: int) -> str:
    """Style that turns each pick button (by its widget key) into a tile showing its drawing above its number: the
    whole tile is one real button (a click, a tap, Tab and Enter all answer; a number key too, up to 9 ways)."""
    sel = f'[class*="st-key-{PICK_PREFIX}"] button'
    rules = [
        ".st-key-ch_tiles{gap:8px}",
        f"{sel}{{width:{size + 16}px;height:{size + 40}px;min-height:0;padding:{size + 8}px 0 4px;"
        f"background-repeat:no-repeat;background-position:center 8px;background-size:{size}px {size}px;"
        "image-rendering:pixelated;border:2px solid #c8c8c8;border-radius:10px;background-color:#fff}",
        f"{sel}:hover{{border-color:#0072B2;background-color:#f3f8fc}}",
        f"{sel}:focus-visible{{outline:3px solid #0072B2}}",
        f"{sel} p{{font-size:1.05rem;font-weight:600}}",
        f"{sel} kbd{{display:none}}",  # (the number under the drawing is its key already)
        # a phone: four tiles a row
        f"@media (max-width:640px){{{sel}{{width:76px;height:100px;padding-top:68px;background-size:60px 60px;"
        "background-position:center 6px}}",
    ]
    for key, x in keys_and_images:
        data = base64.b64encode(tile_png(x, 28)).decode("ascii")
        rules.append(f'.st-key-{key} button{{background-image:url("data:image/png;base64,{data}")}}')
    return "<style>" + "".join(rules) + "</style>"


def query_html(x: Tensor, size: int) -> str:
    return img_tag(tile_png(x, size), size, border="#0072B2", width=3, title="the query")


# --- the comparison, in words ----------------------------------------------------------------------------------

def percent(hits: int, n: int) -> str:
    return f"{100 * hits / n:.0f}%"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int) -> str:
    return "none" if n == 0 else f"{n} trial{'' if n == 1 else 's'}"


def interval_text(hits: int, n: int) -> str:
    lo, hi = wilson_interval(hits, n)
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def network_text(score: MethodScore, n_way: int) -> str:
    """What ran: the network (its own N-way one, or a narrower one with a widened zero head), steps and α."""
    net = (f"its {n_way}-way network" if score.trained_ways == n_way else
           f"its {score.trained_ways}-way network with a {n_way}-way zero head")
    return (f"{net}, adapted to each trial's {n_way} drawings with {score.steps} inner "
            f"step{'' if score.steps == 1 else 's'} at α = {describe_lr(score.inner_lr)} (its settings, validated on "
            f"{score.trained_ways}-way episodes)")


def disagreements(human: list[bool], score: MethodScore) -> tuple[int, int]:
    """(trials only you got right, trials only the network got right)."""
    theirs = [bool(c) for c in score.correct.tolist()]
    return (sum(a and not b for a, b in zip(human, theirs)), sum(b and not a for a, b in zip(human, theirs)))


def results_rows(human: list[bool], scores: dict[str, MethodScore]) -> list[dict[str, str]]:
    """One row per answerer, you first, then each network, on the same trials: right, accuracy, its 95% interval,
    and the trials only one of you got right (with the sign test's chance)."""
    n = len(human)
    k = sum(human)
    rows = [{"Who": "You", "Right": f"{k} of {n}", "Accuracy": percent(k, n), "95% interval": interval_text(k, n),
             "Only one of you right": ""}]
    for m, s in scores.items():
        you_only, they_only = disagreements(human, s)
        name = common.METHOD_LABELS.get(m, m)
        split = f"{name} {they_only}, you {you_only}" + (f" (chance {sign_test(you_only, they_only):.2f})"
                                                         if you_only != they_only else "")
        rows.append({"Who": name, "Right": f"{s.hits} of {n}", "Accuracy": percent(s.hits, n),
                     "95% interval": interval_text(s.hits, n), "Only one of you right": split})
    return rows


def how_list(scores: dict[str, MethodScore], n_way: int) -> str:
    """How each answered (a markdown list): you by eye, each network with its network, steps and α."""
    lines = ["- **You**: by eye, on the same 28 × 28 drawings the networks get."]
    lines += [f"- **{common.METHOD_LABELS.get(m, m)}**: {network_text(s, n_way)}, then the class it scores highest."
              for m, s in scores.items()]
    return "\n".join(lines)


def fair_sentence(human: list[bool], scores: dict[str, MethodScore], held_out_tasks: int | None = None) -> str:
    """How much these few trials can say, read off the numbers: your interval, what the disagreement column means,
    and which differences are clear by the exact sign test (`held_out_tasks`: the held-out figures on that many
    episodes follow)."""
    n, k = len(human), sum(human)
    lo, hi = wilson_interval(k, n)
    out = [f"These are {n} trials, so one answer moves a score by {100 / n:.0f} points: your {k} of {n} is "
           f"consistent with a true accuracy anywhere from {100 * lo:.0f}% to {100 * hi:.0f}% (95% Wilson interval)."]
    if scores:
        out.append("“Only one of you right” counts the trials that tell you and a network apart; the chance is how "
                   "often two equally good answerers split them at least that unevenly (exact sign test).")
        clear = {m: disagreements(human, s) for m, s in scores.items()}
        clear = {m: d for m, d in clear.items() if d[0] != d[1] and sign_test(*d) < 0.05}
        if not clear:
            out.append("Every chance here is 0.05 or more: on these trials no network is clearly better or worse "
                       "than you.")
        else:
            said = [f"{common.METHOD_LABELS.get(m, m)} did {'better' if d[1] > d[0] else 'worse'} than you"
                    for m, d in clear.items()]
            out.append(f"Clear on these trials (chance below 0.05): {and_list(said)}.")
    if held_out_tasks and scores:
        out.append(f"The networks' accuracy on {held_out_tasks} held-out episodes (below) is a far steadier figure "
                   "than these few trials.")
    return " ".join(out)


def lake_sentence(n_way: int, human: list[bool]) -> str:
    """Lake et al.'s human figure, only beside 20-way trials (the only ways it measures); else why it is not shown."""
    if n_way != LAKE_2015_WAYS:
        return (f"Lake et al. (2015) measured people on {LAKE_2015_WAYS}-way trials only, so their figure is not "
                f"shown beside {n_way}-way ones: choose {LAKE_2015_WAYS} ways to set yours beside it.")
    acc = 100 * (1 - LAKE_2015_HUMAN_ERROR)
    n, k = len(human), sum(human)
    return (f"**People in Lake et al. (2015)**: {100 * LAKE_2015_HUMAN_ERROR:.1f}% errors on {LAKE_2015_WAYS}-way "
            f"1-shot trials ({acc:.1f}% right), against your {k} of {n} ({percent(k, n)}) here. Not quite the same "
            "test: each of their trials took its 20 characters from one alphabet; here a trial's characters are drawn "
            "from all the held-out test characters, whatever their alphabet, and shown at the 28 × 28 the networks "
            "see. "
            f"Source: {LAKE_CITATION}.")


def held_out_tasks(figs: dict) -> int | None:
    """The number of held-out episodes behind every figure (None: none, or not the same number)."""
    tasks = {f.tasks for f in figs.values()}
    return tasks.pop() if len(tasks) == 1 else None


def held_out_text(figs: dict, n_way: int) -> str:
    """The networks' accuracy on many held-out episodes (ui/omniglot_compare.test_figures), for scale."""
    if not figs:
        return ""
    parts = [f"{common.METHOD_LABELS.get(m, m)} {100 * f.accuracy:.1f}% ± {100 * f.ci95:.1f}" for m, f in figs.items()]
    tasks = {f.tasks for f in figs.values()}
    many = f"{tasks.pop()} " if len(tasks) == 1 else ""
    return (f"For scale, the same networks at the same settings on {many}held-out {n_way}-way 1-shot episodes "
            f"(mean ± 95% CI): {', '.join(parts)}.")


def review_html(challenge: Challenge, human: list[int], scores: dict[str, MethodScore], size: int = 56) -> str:
    """Every trial in a row: its query, the right drawing, your pick and each network's, each marked right or
    wrong."""
    def cell(x: Tensor, text: str, ok: bool | None) -> str:
        border = "#d0d0d0" if ok is None else ("#009E73" if ok else "#D55E00")
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        pic = img_tag(tile_png(x, size), size, border=border, width=3)
        return (f'<td style="padding:4px 8px;text-align:center">{pic}'
                f'<div style="font-size:0.8em">{text}{mark}</div></td>')

    head = ["Trial", "Query", "Right answer", "You"] + [common.METHOD_LABELS.get(m, m) for m in scores]
    rows = ['<tr>' + "".join(f'<th style="padding:4px 8px">{h}</th>' for h in head) + "</tr>"]
    for t, mine in enumerate(human):
        support, right = challenge.support(t), int(challenge.answers[t])
        cells = [f'<td style="padding:4px 8px;text-align:center">{t + 1}</td>',
                 cell(challenge.query(t), "query", None), cell(support[right], f"{right + 1}", None),
                 cell(support[mine], f"{mine + 1}", mine == right)]
        for s in scores.values():
            p = int(s.picks[t])
            cells.append(cell(support[p], f"{p + 1}", p == right))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<div style="overflow-x:auto"><table style="border-collapse:collapse">' + "".join(rows) + "</table></div>"
