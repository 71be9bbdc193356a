"""maml_core.challenge: trials from a seed, each network scored on exactly the trials a person answers (checked
against `adapt_and_measure` called by hand), a person's answers scored, and the Wilson interval."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_omniglot

from maml_core import Checkpoint, adapt, adapt_and_measure, build_model, default_config, get_params, predict
from maml_core.challenge import (
    LAKE_2015_HUMAN_ERROR,
    challenge_trials,
    score_answers,
    score_method,
    sign_test,
    wilson_interval,
)
from maml_core.checkpoints import Metrics
from maml_core.omniglot import fit_head


def checkpoint(head: str = "learned", seed: int = 0, inner_lr: float = 0.4, steps: int = 2) -> Checkpoint:
    """A randomly initialised 5-way network as a checkpoint (what it learned does not matter here)."""
    config = default_config("omniglot", "maml", head=head)
    torch.manual_seed(seed)
    return Checkpoint(config, get_params(build_model(config.model)), Metrics(inner_lr=inner_lr, eval_steps=steps))


@pytest.fixture
def data():
    return synthetic_omniglot(n_chars=30)


def test_the_same_seed_gives_the_same_trials_and_another_seed_others(data):
    a, b = challenge_trials(data, 5, 6, seed=3), challenge_trials(data, 5, 6, seed=3)
    c = challenge_trials(data, 5, 6, seed=4)
    assert torch.equal(a.episodes.support_x, b.episodes.support_x) and torch.equal(a.asked, b.asked)
    assert not torch.equal(a.episodes.support_x, c.episodes.support_x)
    assert len(a) == 6 and a.n_way == 5
    assert a.episodes.support_x.shape == (6, 5, 1, 28, 28) and a.episodes.query_x.shape == (6, 5, 1, 28, 28)


def test_each_query_is_another_drawing_of_the_asked_character(data):
    ch = challenge_trials(data, 5, 8, seed=1)
    images = data.float_images()  # (C, 20, 1, 28, 28)
    assert len(set(ch.answers.tolist())) > 1  # the asked class varies from trial to trial
    for t in range(len(ch)):
        right = int(ch.answers[t])
        char = int(ch.episodes.classes[t, right])
        same = lambda x, d=images[char]: [i for i in range(20) if torch.equal(d[i], x)]  # noqa: E731
        q, s = same(ch.query(t)), same(ch.support(t)[right])
        assert q and s and set(q).isdisjoint(s), "the query must be a different drawing of the support's character"
        for c in range(5):  # every other support drawing is another character
            assert c == right or not same(ch.support(t)[c])


def test_score_method_agrees_with_adapt_and_measure_on_each_trial(data):
    ck = checkpoint()
    ch = challenge_trials(data, 5, 5, seed=2)
    score = score_method(ck, ch)
    assert (score.steps, score.inner_lr, score.trained_ways) == (2, 0.4, 5)
    for t in range(len(ch)):
        sx, sy = ch.episodes.support_x[t], ch.episodes.support_y[t]
        m = adapt_and_measure(ck.model, ck.params, sx, sy, ch.query(t)[None], None, steps=2, inner_lr=0.4,
                              outputs=True)
        assert int(score.picks[t]) == int(m["query_out"][-1, 0].argmax())
    assert torch.equal(score.correct, score.picks == ch.answers)
    assert score.hits == int(score.correct.sum())


def test_the_pick_is_the_query_alone_and_other_settings_change_it(data):
    """The pick for a query is the same whether or not its episode's other queries are predicted with it (the
    person sees one query), and steps / alpha passed in are the ones used."""
    ck = checkpoint()
    ch = challenge_trials(data, 5, 6, seed=5)
    score = score_method(ck, ch, steps=3, inner_lr=0.2)
    assert (score.steps, score.inner_lr) == (3, 0.2)
    for t in range(len(ch)):
        sx, sy = ch.episodes.support_x[t], ch.episodes.support_y[t]
        w = adapt(ck.model, ck.params, sx, sy, steps=3, inner_lr=0.2)[-1]
        all_queries = predict(ck.model, w, ch.episodes.query_x[t], support_x=sx)  # (N, N): every query at once
        assert int(score.picks[t]) == int(all_queries[int(ch.asked[t])].argmax())
    zero_steps = score_method(ck, ch, steps=0)
    assert torch.equal(zero_steps.picks, torch.stack([
        predict(ck.model, ck.params, ch.query(t)[None], support_x=ch.support(t)).argmax(-1)[0]
        for t in range(len(ch))]))


def test_the_checkpoint_is_never_modified(data):
    ck = checkpoint()
    before = {k: v.clone() for k, v in ck.params.items()}
    score_method(ck, challenge_trials(data, 5, 3, seed=0))
    assert all(torch.equal(before[k], v) for k, v in ck.params.items())


def test_twenty_ways_need_a_head_that_can_widen(data):
    ch = challenge_trials(data, 20, 3, seed=0)
    zero = checkpoint(head="zero")
    score = score_method(zero, ch)
    assert score.picks.shape == (3,) and int(score.picks.max()) < 20 and score.trained_ways == 5
    assert torch.equal(fit_head(zero.params, 20)["head.weight"], torch.zeros(20, zero.params["head.weight"].shape[1]))
    with pytest.raises(ValueError, match="at most 5 ways"):
        score_method(checkpoint(head="learned"), ch)


def test_too_few_characters_or_trials_say_so(data):
    from maml_core import DataError
    with pytest.raises(DataError, match="20-way episodes need at least 20 classes"):
        challenge_trials(data.subset(list(range(10))), 20, 2, seed=0)
    with pytest.raises(ValueError, match="at least one trial"):
        challenge_trials(data, 5, 0, seed=0)


def test_score_answers_marks_each_answer(data):
    ch = challenge_trials(data, 5, 4, seed=0)
    right = ch.answers.tolist()
    wrong = [(a + 1) % 5 for a in right]
    assert score_answers(right, ch).tolist() == [True] * 4
    assert score_answers([right[0], wrong[1]], ch).tolist() == [True, False]
    with pytest.raises(ValueError, match="5 answers for a challenge of 4 trials"):
        score_answers(right + [0], ch)


def test_wilson_interval_matches_published_values():
    # 7 of 10: 0.397-0.892; 0 of 5: 0-0.434; 10 of 10: 0.722-1 (Wilson 1927; e.g. Newcombe 1998, table I)
    for (k, n), (lo, hi) in {(7, 10): (0.3968, 0.8922), (0, 5): (0.0, 0.4345), (10, 10): (0.7225, 1.0)}.items():
        got = wilson_interval(k, n)
        assert got == pytest.approx((lo, hi), abs=5e-4)
    width = lambda k, n: wilson_interval(k, n)[1] - wilson_interval(k, n)[0]  # noqa: E731
    assert width(50, 100) < width(5, 10) / 2  # more trials, a narrower interval
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_lake_figure_is_the_20_way_human_error():
    assert LAKE_2015_HUMAN_ERROR == 0.045


def test_sign_test_is_the_exact_binomial_tail():
    assert sign_test(0, 3) == pytest.approx(0.25)  # 3 disagreements, all one way: 2 * (1/2)^3
    assert sign_test(3, 0) == sign_test(0, 3)
    assert sign_test(1, 9) == pytest.approx(2 * (1 + 10) / 1024)  # 0.0215
    assert sign_test(0, 0) == 1.0 and sign_test(4, 4) == 1.0
    assert sign_test(0, 6) < 0.05 < sign_test(0, 5)
