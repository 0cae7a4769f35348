"""The review report: majority vote, unresolved pairs, Wilson intervals, Fleiss' kappa, files and command."""

import json

import pytest

from uas_audio.cli import main
from uas_audio.review.report import build_report, fleiss_kappa, write_report
from uas_audio.review.store import ReviewStore, Vote

AGE = "paralinguistics.age"
ANNOTATORS = ("alice", "bob", "carol")
# item → the three annotators' verdicts on the age field
HAND_MADE = {
    "i1": ("correct", "correct", "correct"),      # correct
    "i2": ("correct", "correct", "incorrect"),    # correct
    "i3": ("incorrect", "incorrect", "correct"),  # incorrect
    "i4": ("correct", "incorrect", "unsure"),     # 1-1-1 tie: unresolved
    "i5": ("unsure", "unsure", "correct"),        # unsure majority: unresolved
}


def _votes(table, field=AGE):
    return [Vote(item, field, annotator, verdict, 0.0, 0.0)
            for item, verdicts in table.items() for annotator, verdict in zip(ANNOTATORS, verdicts)]


def test_unresolved_pairs_are_left_out_of_n_and_counted():
    age = build_report(_votes(HAND_MADE)).fields[AGE]
    assert (age.correct, age.n, age.unresolved) == (2, 3, 2)
    assert age.interval == pytest.approx((0.2076596, 0.9385081), abs=1e-6)  # Wilson 2 / 3


def test_unresolved_pairs_can_count_as_not_correct():
    age = build_report(_votes(HAND_MADE), unresolved="incorrect").fields[AGE]
    assert (age.correct, age.n, age.unresolved) == (2, 5, 2)
    assert age.interval == pytest.approx((0.1176208, 0.7692757), abs=1e-6)  # Wilson 2 / 5


def test_paper_age_row_is_reproduced_from_unanimous_votes():
    table = {f"i{i}": ("correct",) * 3 if i < 394 else ("incorrect",) * 3 for i in range(400)}
    age = build_report(_votes(table)).fields[AGE]
    low, high = age.interval
    assert (round(100 * age.accuracy, 2), round(100 * low, 2), round(100 * high, 2)) == (98.5, 96.77, 99.31)


def test_fleiss_kappa_matches_the_hand_computed_value():
    # subjects × (correct, incorrect, unsure) counts of 3 raters:
    # P_i = 1, 1/3, 1, 0 → P̄ = 7/12; p = 6/12, 5/12, 1/12 → P_e = 62/144; kappa = (7/12 - 31/72)/(41/72) = 11/41
    counts = [[3, 0, 0], [2, 1, 0], [0, 3, 0], [1, 1, 1]]
    assert fleiss_kappa(counts) == pytest.approx(11 / 41)


def test_fleiss_kappa_is_one_for_perfect_agreement_over_two_categories():
    assert fleiss_kappa([[3, 0, 0], [0, 3, 0]]) == pytest.approx(1.0)


def test_fleiss_kappa_is_undefined_when_all_ratings_share_one_category():
    assert fleiss_kappa([[3, 0, 0], [3, 0, 0]]) is None


def test_fleiss_kappa_needs_two_raters_and_equal_counts():
    assert fleiss_kappa([[1, 0, 0]]) is None
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[3, 0, 0], [1, 1, 0]])


def test_report_kappa_uses_only_items_rated_by_every_annotator():
    votes = _votes({k: HAND_MADE[k] for k in ("i1", "i2", "i3", "i4")})
    votes.append(Vote("i9", AGE, "alice", "incorrect", 0.0, 0.0))  # rated by alice alone: not in kappa
    report = build_report(votes)
    # counts [3,0,0] [2,1,0] [1,2,0] [1,1,1]: P̄ = 5/12, P_e = 66/144, kappa = (5/12 - 11/24)/(13/24) = -1/13
    assert report.field_kappa[AGE] == (pytest.approx(-1 / 13), 4)
    assert report.items == 5


def test_overall_kappa_pools_item_field_pairs():
    votes = _votes({"i1": HAND_MADE["i1"], "i2": HAND_MADE["i2"]}) + \
        _votes({"i3": HAND_MADE["i3"], "i4": HAND_MADE["i4"]}, field="transcription")
    report = build_report(votes)
    assert (report.overall_kappa, report.overall_kappa_items) == (pytest.approx(-1 / 13), 4)
    assert list(report.fields) == ["transcription", AGE]  # FIELD_PATHS order


def _store_with(tmp_path, votes):
    store = ReviewStore(tmp_path / "review.sqlite")
    items = sorted({v.item_id for v in votes})
    store.save_sample(0, len(items), items)
    for v in votes:
        store.record_vote(v.item_id, v.field, v.annotator, v.verdict)
    return tmp_path / "review.sqlite"


def test_report_files_hold_the_numbers(tmp_path):
    db = _store_with(tmp_path, _votes(HAND_MADE))
    write_report(db, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["format"] == "uas-review-report/1"
    assert data["annotators"] == list(ANNOTATORS)
    age = data["fields"][AGE]
    assert (age["correct"], age["n"], age["unresolved"], age["kappa_items"]) == (2, 3, 2, 5)
    assert age["ci_low"] == pytest.approx(0.2076596, abs=1e-6)
    assert data["agreement"]["raters"] == 3
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| `uas.paralinguistics.age` | 66.67 | [20.77, 93.85] | 2 / 3 | 2 |" in markdown
    assert (tmp_path / "out" / "field_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_review_report_command_writes_the_report(tmp_path, capsys):
    db = _store_with(tmp_path, _votes(HAND_MADE))
    assert main(["review-report", "--db", str(db), "--out", str(tmp_path / "rep"), "--unresolved", "incorrect"]) == 0
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["fields"][AGE]["n"] == 5
    assert "5 items, 3 annotator(s)" in capsys.readouterr().out


def test_review_report_command_refuses_an_empty_or_missing_database(tmp_path, capsys):
    ReviewStore(tmp_path / "empty.sqlite")
    assert main(["review-report", "--db", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path / "o")]) == 2
    assert "holds no votes yet" in capsys.readouterr().err
    assert main(["review-report", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.sqlite: no such review database" in capsys.readouterr().err


def test_a_field_judged_correct_on_every_item_is_plotted(tmp_path):
    # Wilson's upper bound for 10 / 10 is 1 - 1e-16: the error bar must not come out negative
    db = _store_with(tmp_path, _votes({f"i{i}": ("correct",) * 3 for i in range(10)}))
    report = write_report(db, tmp_path / "out")
    assert report.fields[AGE].accuracy == 1.0
    assert (tmp_path / "out" / "field_accuracy.png").stat().st_size > 1000
