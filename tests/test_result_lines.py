"""RESULT lines never round across their target, and every printer of one goes through the shared formatter."""

import re
from pathlib import Path

import pytest

from uas_audio.evaluation.result_lines import OPS, parse_result_line, result_line, shown

ROOT = Path(__file__).resolve().parents[1]


def test_one_decimal_when_it_does_not_cross_the_target():
    assert result_line("a", 47 / 462 * 100, "points", ">=", 10) == "RESULT a: 10.2 points (target >= 10)"
    assert result_line("a", -3.0, "points", ">=", 10) == "RESULT a: -3.0 points (target >= 10)"
    assert result_line("a", 30.04, "%", ">=", 30) == "RESULT a: 30.0 % (target >= 30)"


@pytest.mark.parametrize("value, op, target, expected", [
    (100 * 46 / 462, ">=", 10, "9.96"),  # 46 of 462 answers: one decimal would print 10.0, "met"
    (84.96, ">=", 85, "84.96"),
    (29.96, ">=", 30, "29.96"),
    (10.04, "<=", 10, "10.04"),  # "10.0 <= 10" would read as met
    (0.04, ">", 0, "0.04"),  # "0.0 > 0" would read as not met
    (-0.04, ">", 0, "-0.0"),  # "-0.0 > 0" reads as not met, as it is
    (1.999, "<", 2, "1.999"),
    (9.9999999, ">=", 10, "9.9999999"),
])
def test_more_decimals_where_one_would_cross(value, op, target, expected):
    value_text, target_text = shown(value, op, target)
    assert value_text == expected
    assert OPS[op](float(value_text), float(target_text)) == OPS[op](value, target)


def test_a_computed_target_is_widened_with_the_value():
    # value 12.34 < target 12.3456789 (not met); to one decimal both read 12.3 >= 12.3 (met)
    line = result_line("overhead", 12.34, "ms/row", ">=", 12.3456789)
    row = parse_result_line(line)
    assert row is not None and row["met"] is False
    assert line == "RESULT overhead: 12.34 ms/row (target >= 12.35)"
    # a target short enough to write exactly is written as it is
    assert result_line("overhead", 12.34, "ms/row", ">=", 12.345) == "RESULT overhead: 12.3 ms/row (target >= 12.345)"


def test_significant_digits_style():
    assert result_line("d", 1.234e-05, "logits", "<", 0.001, digits=3, style="g") == \
        "RESULT d: 1.23e-05 logits (target < 0.001)"
    assert parse_result_line("RESULT d: 1.23e-05 logits (target < 0.001)")["met"] is True


def test_the_judgement_read_back_matches_the_unrounded_comparison():
    import random

    rng = random.Random(0)
    for _ in range(2000):
        op = rng.choice(sorted(OPS))
        target = rng.choice([0, 2, 10, 30, 85, 100, round(rng.uniform(-5, 5), 3)])
        value = target + rng.choice([-1, 1]) * rng.choice([0.0, 1e-7, 0.004, 0.049, 0.05, 0.06, 0.5, 3.0])
        row = parse_result_line(result_line("x", value, "u", op, target, digits=rng.choice([0, 1, 2])))
        assert row is not None and row["met"] == OPS[op](value, target), (value, op, target)


@pytest.mark.parametrize("bad", [dict(op="=>"), dict(style="e"), dict(name="has space")])
def test_bad_arguments_are_named(bad):
    args = dict(name="x", value=1.0, unit="u", op=">=", target=1.0) | bad
    with pytest.raises(ValueError, match="RESULT"):
        result_line(args["name"], args["value"], args["unit"], args["op"], args["target"], **(
            {"style": args["style"]} if "style" in args else {}))


def test_non_result_lines_parse_to_none():
    assert parse_result_line("not a RESULT line") is None
    assert parse_result_line("RESULT x: nan % (target >= 1)") is None


def test_every_result_printer_uses_the_shared_formatter():
    """No script or module writes a RESULT line with a target by hand (a fixed format can round across it)."""
    files = [*sorted((ROOT / "benchmarks").glob("*.py")), *sorted((ROOT / "src" / "uas_audio").rglob("*.py"))]
    files = [p for p in files if p.name != "result_lines.py"]
    by_hand = re.compile(r"""f["']\\?n?RESULT .*\(target""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in files
                 for n, line in enumerate(p.read_text().splitlines(), 1) if by_hand.search(line)]
    assert not offenders, offenders
    printers = [p.name for p in files if "result_line(" in p.read_text()]
    assert "perception_ablation.py" in printers and "quickstart.py" in printers
