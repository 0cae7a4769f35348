"""Fuzz of constrained UAS decoding (benchmarks/constrained_fuzz.py): random tiny models of several LM families,
byte-level BPE / Unigram / WordPiece tokenizers, greedy and sampled decoding, budgets from below the shortest
record up to 4096. Every run returns a parseable, valid record, or a BudgetTooSmallError when (and only when)
the budget is below the shortest record."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "constrained_fuzz.py"
_spec = importlib.util.spec_from_file_location("constrained_fuzz", SCRIPT)
constrained_fuzz = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("constrained_fuzz", constrained_fuzz)  # dataclasses look their module up by name
_spec.loader.exec_module(constrained_fuzz)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _assert_all_passed(report, failures):
    table = report["table"]
    assert not failures, constrained_fuzz.format_table(report) + "\n" + json.dumps(failures[:3], default=str)[:3000]
    for (family, kind, sampler, band), row in table.items():
        if band == "below":
            assert row["budget_error"] == row["runs"], (family, kind, sampler, band, row)
        else:
            assert row["parseable"] == row["valid"] == row["runs"], (family, kind, sampler, band, row)


def test_every_family_and_tokenizer_kind_returns_a_valid_record_or_a_budget_error():
    report, failures = constrained_fuzz.fuzz(54, batch=3, seed=1, pairs=constrained_fuzz.QUICK_PAIRS,
                                             bands=constrained_fuzz.BUDGET_BANDS[:3], max_s=3.0)
    assert {(f, k) for f, k, _, _ in report["table"]} == set(constrained_fuzz.QUICK_PAIRS)
    assert sum(row["runs"] for row in report["table"].values()) == 54
    _assert_all_passed(report, failures)


@pytest.mark.slow
def test_a_thousand_runs_over_families_tokenizers_samplers_and_budgets():
    report, failures = constrained_fuzz.fuzz(1080, batch=8, seed=0)
    print(constrained_fuzz.format_table(report))
    assert sum(row["runs"] for row in report["table"].values()) >= 1000
    assert {band for _, _, _, band in report["table"]} == {b for b, _, _ in constrained_fuzz.BUDGET_BANDS}
    _assert_all_passed(report, failures)
