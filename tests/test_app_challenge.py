"""The Human vs MAML page, headless (Streamlit AppTest), and the sentences it shows (ui/challenge_view.py).

The page's trials come from the held-out test characters: here a synthetic set stands in for them (the page reads
them through `ui.omniglot_inputs.test_split`, patched), so these tests need no archive; one test plays on the real
archives when MAML_DATA_DIR names them. The networks are the quick tiny checkpoints of tests/test_app_omniglot.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import synthetic_omniglot
from test_app_omniglot import assets_dir, no_traceback, texts  # noqa: F401  (assets_dir: a fixture)

from maml_core import load_checkpoint
from maml_core.challenge import MethodScore, challenge_trials, score_method
from ui import challenge_view as cv
from ui import omniglot_inputs as oi

ROOT = Path(__file__).resolve().parent.parent

PAGE = str(ROOT / "app_pages" / "challenge.py")
TEST_CHARACTERS = synthetic_omniglot(n_chars=30)
READ_TEST_SPLIT = oi.test_split  # the real reader, for the tests about missing archives


@pytest.fixture()
def page(assets_dir, tmp_path, monkeypatch):  # noqa: F811
    """A fresh AppTest of the page with the quick checkpoints and synthetic test characters (tests without data
    point `ui.common.DATA_DIR` at an empty folder and undo the patch)."""
    from streamlit.testing.v1 import AppTest

    from ui import common

    monkeypatch.setenv("MAML_ASSETS_DIR", str(assets_dir))
    monkeypatch.setattr(common, "ASSETS", assets_dir)
    monkeypatch.setattr(common, "DATA_DIR", tmp_path / "no-data")
    monkeypatch.setattr(oi, "test_split", lambda data_dir, config: (TEST_CHARACTERS, None))
    common.load_shipped.clear()
    at = AppTest.from_file(PAGE, default_timeout=120)
    yield at
    common.load_shipped.clear()


def state(at) -> cv.ChallengeState:
    return cv.ChallengeState.of(at.session_state)


def shown_challenge(at, ways: int = 5, trials: int = cv.DEFAULT_TRIALS, seed: int = 0):
    """The trials the page shows, computed here as the page does (the same seed, the same trials)."""
    return challenge_trials(TEST_CHARACTERS, ways, trials, cv.challenge_seed(seed, state(at).number))


def picks(at) -> list:
    return [b for b in at.button if (b.key or "").startswith(cv.PICK_PREFIX)]


def answer(at, choices: list[int]) -> None:
    """Click the tile of class `choices[i]` in trial i, one trial after another."""
    for c in choices:
        t = len(state(at).answers.get(state(at).key(at.session_state["ch_ways"], at.session_state["ch_trials"],
                                                    at.session_state["seed"]), []))
        at.button(key=f"{cv.PICK_PREFIX}{t}_{c}").click().run()
        no_traceback(at)


def progress(at) -> str:
    return at.get("progress")[0].proto.text


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- the page -------------------------------------------------------------------------------------------

def test_a_trial_shows_the_query_and_one_tile_per_class(page):
    at = page.run()
    no_traceback(at)
    assert progress(at) == "**Trial 1 of 5**"
    assert [b.key for b in picks(at)] == [f"{cv.PICK_PREFIX}0_{c}" for c in range(5)]
    assert [b.label for b in picks(at)] == ["1", "2", "3", "4", "5"]
    assert "press its number, 1 to 5" in texts(at)
    assert "from the 30 held-out test characters" in texts(at)


def test_playing_a_5_way_challenge_sets_you_beside_each_network_on_the_same_trials(page, assets_dir):  # noqa: F811
    at = page.run()
    ch = shown_challenge(at)
    right = ch.answers.tolist()
    mine = right[:3] + [(a + 1) % 5 for a in right[3:]]  # 3 of 5 right
    answer(at, mine)
    assert progress(at) == "**All 5 trials answered**"
    m = metrics(at)
    assert m["You"] == "3 of 5" and "People (Lake et al. 2015)" not in m
    table = at.table[0].value
    assert list(table["Who"]) == ["You", "MAML", "FO-MAML", "Transfer learning"]
    for name, file, row in (("maml", "omniglot_5w1s_maml.pt", 1), ("transfer", "omniglot_5w1s_transfer.pt", 3)):
        direct = score_method(load_checkpoint(assets_dir / file), ch)  # the engine, called here on the same trials
        assert table["Right"][row] == f"{direct.hits} of 5"
        assert m[table["Who"][row]] == f"{direct.hits} of 5"
        assert torch.equal(state(at).scores[next(iter(state(at).scores))][name].picks, direct.picks)
    assert table["95% interval"][0] == cv.interval_text(3, 5) == "23–88%"
    assert "3 inner steps at α = 0.1 (its settings, validated on 5-way episodes)" in texts(at)  # transfer (quick)
    body = texts(at)
    assert "your 3 of 5 is consistent with a true accuracy anywhere from 23% to 88%" in body
    assert "not shown beside 5-way ones" in body and "95.5" not in body


def test_twenty_ways_show_lake_et_al_beside_yours(page):
    at = page.run()
    at.segmented_control(key="ch_ways").set_value(20).run()
    assert len(picks(at)) == 20 and "press its number" not in texts(at)
    ch = shown_challenge(at, ways=20)
    answer(at, ch.answers.tolist())
    assert metrics(at)["People (Lake et al. 2015)"] == "95.5%"
    assert metrics(at)["You"] == "5 of 5"
    body = texts(at)
    assert "4.5% errors on 20-way 1-shot trials (95.5% right), against your 5 of 5 (100%) here" in body
    assert "Science" in body and "FO-MAML**: its 5-way network with a 20-way zero head" in body


def test_answers_survive_reruns_other_choices_and_coming_back(page):
    at = page.run()
    answer(at, [0, 1])
    assert progress(at) == "**Trial 3 of 5**"
    at.run()
    assert progress(at) == "**Trial 3 of 5**"
    at.segmented_control(key="ch_ways").set_value(20).run()
    assert progress(at) == "**Trial 1 of 5**"  # another challenge
    at.segmented_control(key="ch_ways").set_value(5).run()
    assert progress(at) == "**Trial 3 of 5**" and state(at).answers[(5, 5, 0, 0)] == [0, 1]


def test_the_last_answer_is_said_and_can_be_taken_back(page):
    at = page.run()
    ch = shown_challenge(at)
    first = int(ch.answers[0])
    answer(at, [first])
    assert f"Trial 1: you chose {first + 1}, right." in texts(at)
    at.button(key="ch_undo").click().run()
    assert progress(at) == "**Trial 1 of 5**" and state(at).answers[(5, 5, 0, 0)] == []
    wrong = (first + 1) % 5
    answer(at, [wrong])
    assert f"Trial 1: you chose {wrong + 1}, not it: it was {first + 1}." in texts(at)


def test_new_challenge_asks_other_trials_and_keeps_the_old_answers(page):
    at = page.run()
    before = shown_challenge(at)
    answer(at, [0])
    at.button(key="ch_new").click().run()
    assert state(at).number == 1 and progress(at) == "**Trial 1 of 5**"
    assert not torch.equal(shown_challenge(at).episodes.support_x, before.episodes.support_x)
    assert state(at).answers[(5, 5, 0, 0)] == [0]
    assert "Challenge 2 (seed 0)" in texts(at)
    assert at.query_params["ch"] == ["2"] or at.query_params["ch"] == "2"


def test_a_link_opens_the_same_trials_and_names_bad_values(page):
    for k, v in {"N": "20", "T": "10", "ch": "3", "seed": "7"}.items():
        page.query_params[k] = v
    at = page.run()
    assert (at.session_state["ch_ways"], at.session_state["ch_trials"], at.session_state["seed"]) == (20, 10, 7)
    assert state(at).number == 2 and progress(at) == "**Trial 1 of 10**"
    assert "Challenge 3 (seed 7)" in texts(at)


def test_a_link_with_bad_values_keeps_the_page_defaults(page):
    for k, v in {"N": "7", "T": "3"}.items():
        page.query_params[k] = v
    at = page.run()
    (warning,) = [w.value for w in at.warning if "This link had values" in w.value]
    assert "ways: “7” is not one of 5, 20" in warning and "trials: “3” is not one of 5, 10, 20" in warning
    assert at.session_state["ch_ways"] == 5 and progress(at) == "**Trial 1 of 5**"


def test_without_the_archives_the_page_says_how_to_get_them(page, monkeypatch):
    from ui import common
    monkeypatch.setattr(oi, "test_split", READ_TEST_SPLIT)
    monkeypatch.setattr(common, "DATA_DIR", Path("/nonexistent/omniglot"))
    at = page.run()
    no_traceback(at)
    info = " ".join(i.value for i in at.info)
    assert "No Omniglot archive" in info and "MAML_DATA_DIR" in info
    assert "python -m maml_core download --data-dir /nonexistent/omniglot" in info  # the folder the app reads
    assert any(b.key == "ch_download" for b in at.button) and not picks(at)


def test_a_failed_download_is_a_clear_message(page, monkeypatch):
    from ui import common
    monkeypatch.setattr(oi, "test_split", READ_TEST_SPLIT)
    monkeypatch.setattr(common, "DATA_DIR", Path("/nonexistent/omniglot"))

    def offline(data_dir, *args, **kwargs):
        raise oi.DataError("could not download https://example/images_background.zip: no internet.")
    monkeypatch.setattr(oi, "download", offline)
    at = page.run()
    at.button(key="ch_download").click().run()
    no_traceback(at)
    assert "Download failed: could not download" in at.error[0].value


@pytest.mark.data
def test_a_challenge_on_the_real_archives(page, monkeypatch, real_data_dir):
    """The shipped networks on the held-out characters of the real archives (skipped without MAML_DATA_DIR)."""
    from ui import common
    monkeypatch.setattr(oi, "test_split", READ_TEST_SPLIT)
    monkeypatch.setattr(common, "DATA_DIR", real_data_dir)
    monkeypatch.setattr(common, "ASSETS", ROOT / "assets")
    common.load_shipped.clear()
    at = page.run()
    no_traceback(at)
    assert len(picks(at)) == 5
    for _ in range(5):
        picks(at)[0].click().run()
    no_traceback(at)
    assert set(metrics(at)) == {"You", "MAML", "FO-MAML", "Transfer learning"}
    assert "**MAML**: its 5-way network, adapted to each trial's 5 drawings with 9 inner steps at α = 0.2" in texts(at)
    assert "on 600 held-out 5-way 1-shot episodes" in texts(at)


# --- the sentences ----------------------------------------------------------------------------------------

def fake_score(correct: list[bool], steps: int = 9, lr: float = 0.2, trained: int = 5) -> MethodScore:
    c = torch.tensor(correct)
    return MethodScore(torch.zeros(len(correct), dtype=torch.long), c, steps, lr, trained)


def test_fair_sentence_reads_the_numbers():
    human = [True] * 7 + [False] * 3
    even = fake_score([True] * 7 + [False] * 3)
    text = cv.fair_sentence(human, {"maml": even}, 600)
    assert "your 7 of 10 is consistent with a true accuracy anywhere from 40% to 89%" in text
    assert "no network is clearly better or worse than you" in text and "600 held-out episodes" in text
    far = fake_score([True] * 10)  # right on the 3 you missed: chance 0.25, not clear
    assert "no network is clearly" in cv.fair_sentence(human, {"maml": far})
    twenty = [False] * 20
    clear = cv.fair_sentence(twenty, {"maml": fake_score([True] * 20), "fomaml": fake_score([False] * 20)})
    assert "Clear on these trials (chance below 0.05): MAML did better than you." in clear
    assert "held-out" not in cv.fair_sentence(human, {"maml": even})  # no figures below: none promised


def test_results_rows_give_counts_intervals_and_the_split_and_the_list_says_how_each_answered():
    human = [True, False, True, True, False]
    scores = {"maml": fake_score([True] * 5, 8, 0.1, 20), "transfer": fake_score(human, 3, 0.01)}
    rows = cv.results_rows(human, scores)
    assert rows[0]["Right"] == "3 of 5" and rows[0]["95% interval"] == "23–88%"
    assert rows[1]["Only one of you right"] == "MAML 2, you 0 (chance 0.50)"
    assert rows[2]["Only one of you right"] == "Transfer learning 0, you 0"
    how = cv.how_list(scores, 20)
    assert "**MAML**: its 20-way network, adapted to each trial's 20 drawings with 8 inner steps at α = 0.1" in how
    assert "**Transfer learning**: its 5-way network with a 20-way zero head, adapted to each trial's 20 drawings " \
           "with 3 inner steps at α = 0.01" in how


def test_lake_et_al_only_beside_20_ways():
    assert "95.5% right" in cv.lake_sentence(20, [True] * 9 + [False])
    assert "9 of 10 (90%)" in cv.lake_sentence(20, [True] * 9 + [False])
    five = cv.lake_sentence(5, [True] * 5)
    assert "95.5" not in five and "4.5" not in five and "choose 20 ways" in five


def test_projector_tiles_fit_a_20_way_trial_on_one_screen():
    assert cv.tile_size(20, True) == (96, 144) and cv.tile_size(5, True)[0] > cv.tile_size(5, False)[0]
    css = cv.pick_css([("ch_pick_0_0", TEST_CHARACTERS.float_images()[0, 0])], 96)
    assert ".st-key-ch_pick_0_0 button{background-image:url(\"data:image/png;base64," in css
    assert "width:112px" in css


def test_the_download_command_names_the_default_folder_relative_to_the_app(page, monkeypatch):
    from ui import common
    monkeypatch.setattr(oi, "test_split", READ_TEST_SPLIT)
    monkeypatch.setattr(common, "DATA_DIR", common.ROOT / "data" / "no-such-omniglot")
    at = page.run()
    assert "`python -m maml_core download --data-dir data/no-such-omniglot`" in " ".join(i.value for i in at.info)


def test_a_lecture_hall_on_one_seed_costs_one_computation_per_network(page, assets_dir, monkeypatch):  # noqa: F811
    """Every session that finishes the same challenge gets the networks' answers from one computation (the shared
    cache); a session of a different seed computes its own."""
    from streamlit.testing.v1 import AppTest

    import maml_core.challenge as engine
    calls = []
    real = engine.score_method
    monkeypatch.setattr(engine, "score_method", lambda ck, ch, **kw: calls.append(ck.algo) or real(ck, ch, **kw))
    students = [page] + [AppTest.from_file(PAGE, default_timeout=120) for _ in range(2)]
    finished = []
    for at in students:
        at.run()
        answer(at, shown_challenge(at).answers.tolist())
        finished.append(state(at).scores[next(iter(state(at).scores))])
    assert sorted(calls) == ["fomaml", "maml", "transfer"]  # once each, for three students
    assert all(torch.equal(f["maml"].picks, finished[0]["maml"].picks) for f in finished)
    other = AppTest.from_file(PAGE, default_timeout=120)
    other.session_state["seed"] = 5
    other.run()
    answer(other, shown_challenge(other, seed=5).answers.tolist())
    assert len(calls) == 6


def test_without_any_network_you_still_play_and_see_your_own_score(page, monkeypatch, tmp_path):
    from ui import common
    monkeypatch.setattr(common, "ASSETS", tmp_path / "no-assets")
    common.load_shipped.clear()
    at = page.run()
    no_traceback(at)
    warning = " ".join(w.value for w in at.warning)
    assert "cannot take part" in warning and "MAML" in warning and "Transfer learning" in warning
    answer(at, shown_challenge(at).answers.tolist())
    assert metrics(at) == {"You": "5 of 5"}
    assert list(at.table[0].value["Who"]) == ["You"]


def test_the_trial_by_trial_table_marks_every_answer():
    ch = challenge_trials(TEST_CHARACTERS, 5, 4, seed=0)
    right = ch.answers.tolist()
    mine = [right[0], (right[1] + 1) % 5, right[2], right[3]]
    net = MethodScore(ch.answers.clone(), torch.ones(4, dtype=torch.bool), 3, 0.4, 5)
    html = cv.review_html(ch, mine, {"maml": net})
    assert html.count("<tr>") == 1 + 4 and html.count(" ✓") == 3 + 4 and html.count(" ✗") == 1
    assert f">{(right[1] + 1) % 5 + 1} ✗<" in html  # your wrong pick, by its number
