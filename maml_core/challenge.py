"""Human vs MAML: N-way 1-shot trials that a person and the trained networks answer alike.

A trial is one question: here is one drawing of each of N characters (the support set) and one more drawing of
one of them (the query); which character is it? The person clicks a support drawing; each network adapts to the
same support set (its own validated inner steps and alpha) and picks the class it scores highest for the same
query. Trials come from a seed, so every browser with the same seed answers the same questions.

Lake, Salakhutdinov & Tenenbaum, "Human-level concept learning through probabilistic program induction",
Science 350 (2015) 1332-1338: people made 4.5% errors on 20-way 1-shot classification of Omniglot characters
(within-alphabet episodes of the evaluation alphabets, the original 105 x 105 drawings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch.func import vmap

from .algorithm import InnerLR, adapt_and_measure
from .checkpoints import Checkpoint
from .models import build_model
from .omniglot import OmniglotData, OmniglotTasks, fit_head
from .tasks import Episode

LAKE_2015_HUMAN_ERROR = 0.045  # Lake et al. (Science 2015), people on 20-way 1-shot classification
LAKE_2015_WAYS = 20  # the only number of ways that figure measures


@dataclass(frozen=True)
class Challenge:
    """T trials of N-way 1-shot classification.

    `episodes` is a batch of T ordinary episodes (one support and one query drawing per class):
    support_x (T, N, 1, 28, 28), query_x (T, N, 1, 28, 28), labels 0..N-1 in support order, `classes` (T, N).
    Each trial asks about one of its episode's queries only, `asked[t]` (T,), so the question is exactly one
    query and its answer is `answers[t]`."""

    episodes: Episode
    asked: Tensor  # (T,) int64, which of the N queries trial t shows

    def __len__(self) -> int:
        return int(self.asked.shape[0])

    @property
    def n_way(self) -> int:
        return self.episodes.n_way

    @property
    def answers(self) -> Tensor:
        """(T,) the class of each trial's query."""
        return self.episodes.query_y[torch.arange(len(self)), self.asked]

    def query(self, t: int) -> Tensor:
        """Trial t's query drawing (1, 28, 28)."""
        return self.episodes.query_x[t, int(self.asked[t])]

    def support(self, t: int) -> Tensor:
        """Trial t's support drawings (N, 1, 28, 28), class c at row c."""
        return self.episodes.support_x[t]


def challenge_trials(data: OmniglotData, n_way: int, trials: int, seed: int) -> Challenge:
    """`trials` N-way 1-shot trials from the characters in `data` (the held-out test split), the same for the same
    seed: `trials` episodes of `OmniglotTasks` (no rotations, no distortions) and, for each, which class is asked.
    Raises `DataError` when `data` has fewer than `n_way` characters."""
    if trials < 1:
        raise ValueError(f"a challenge needs at least one trial, got trials={trials}")
    g = torch.Generator().manual_seed(int(seed))
    episodes = OmniglotTasks(data, n_way, k_shot=1, n_query=1).sample(trials, g)
    asked = torch.randint(n_way, (trials,), generator=g)
    return Challenge(episodes, asked)


@dataclass(frozen=True)
class MethodScore:
    """One network's answers to a challenge: picks (T,) the class it chose for each trial; correct (T,) bool."""

    picks: Tensor
    correct: Tensor
    steps: int
    inner_lr: InnerLR
    trained_ways: int  # the ways its checkpoint was meta-trained for (a zero head widens to more)

    @property
    def hits(self) -> int:
        return int(self.correct.sum())


def score_method(checkpoint: Checkpoint, challenge: Challenge, *, steps: int | None = None,
                 inner_lr: InnerLR | None = None) -> MethodScore:
    """Adapt `checkpoint`'s initialisation to every trial's support set (by default its validated steps and alpha)
    and pick, for each trial's query, the class with the highest output: `adapt_and_measure` on each trial, batched
    with `vmap`. The checkpoint is not modified (a fresh N-way module and head, `fit_head`). Each query is predicted
    on its own (`queries_alone`), so the pick does not depend on the other queries of its episode."""
    n = challenge.n_way
    steps = checkpoint.eval_steps if steps is None else int(steps)
    lr = checkpoint.inner_lr if inner_lr is None else inner_lr
    # A fresh module per call: `functional_call` swaps parameters on the module it is given (threads share checkpoints)
    model = build_model(replace(checkpoint.config.model, n_out=n)).requires_grad_(False)
    params = {k: v.detach() for k, v in fit_head(checkpoint.params, n).items()}
    e = challenge.episodes
    idx = torch.arange(len(challenge))
    qx = e.query_x[idx, challenge.asked].unsqueeze(1)  # (T, 1, 1, 28, 28): the one query each trial asks

    def per_trial(sx: Tensor, sy: Tensor, q: Tensor) -> Tensor:
        out = adapt_and_measure(model, params, sx, sy, q, None, steps=steps, inner_lr=lr, all_steps=False,
                                support_loss=False, outputs=True, queries_alone=True)
        return out["query_out"][-1, 0]  # (N,) logits after the last step

    with torch.no_grad():
        logits = vmap(per_trial)(e.support_x, e.support_y, qx)  # (T, N)
    picks = logits.argmax(-1)
    return MethodScore(picks, picks == challenge.answers, steps, lr, checkpoint.config.omniglot.n_way)


def score_answers(answers: list[int] | Tensor, challenge: Challenge) -> Tensor:
    """(T',) bool: whether each of a person's first T' answers (class indices) is right."""
    picks = torch.as_tensor(list(answers), dtype=torch.long)
    if picks.numel() > len(challenge):
        raise ValueError(f"{picks.numel()} answers for a challenge of {len(challenge)} trials")
    return picks == challenge.answers[:picks.numel()]


def sign_test(a_only: int, b_only: int) -> float:
    """Two-sided exact sign test (McNemar's exact test) on paired answers: the chance that two answerers who are
    equally good split their disagreements at least this unevenly. `a_only`: trials only A got right; `b_only`:
    trials only B got right. 1.0 when they never disagree."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval for a proportion of `hits` in `n` trials (E. B. Wilson, JASA 1927): unlike
    the normal approximation it stays inside [0, 1] and is not zero-width at 0 or n hits, which matters for the
    handful of trials a person answers."""
    if n < 1:
        raise ValueError("an interval needs at least one trial")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
