"""The ``RESULT`` lines that benchmark scripts and the quickstart end with, printed so they never round across
their target.

``RESULT <name>: <value> <unit> (target <op> <target>)`` is read back by ``benchmarks/run_all.py``, which judges
met / not met from the printed numbers. A value printed with a fixed number of decimals can land on the other
side of its target (84.96 % printed "85.0" against ">= 85" reads as met); :func:`result_line` prints the value (and
a computed target) with as many more decimals as it takes for the printed numbers to compare as the unrounded
ones do.
"""

from __future__ import annotations

import math
import operator
import re

#: The comparisons a RESULT line may state (the same set ``benchmarks/run_all.py`` parses).
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}

#: One RESULT line: name, measured value, unit, comparison, target.
RESULT_PATTERN = re.compile(
    r"^RESULT (?P<name>[\w.-]+): (?P<value>-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?) (?P<unit>.*?) "
    r"\(target (?P<op><=|>=|<|>|==) (?P<target>-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\)\s*$")

_MAX_EXTRA_DIGITS = 12


def _number(value: float, digits: int, style: str) -> str:
    if style == "g":
        return f"{value:.{max(1, digits)}g}"
    return f"{value:.{digits}f}"


def _target_text(target: float, digits: int, style: str) -> str:
    """A target as written (``10``, ``0.001``) when its shortest form is short, else to ``digits``."""
    short = f"{target:g}"
    if float(short) == target:
        return short
    return _number(target, digits, style)


def shown(value: float, op: str, target: float, digits: int = 1, style: str = "f") -> tuple[str, str]:
    """``value`` and ``target`` as printed: ``digits`` decimals (``style="f"``) or significant digits (``"g"``),
    one more at a time until the printed numbers compare under ``op`` as the unrounded ones do.

    >>> shown(100 * 46 / 462, ">=", 10)
    ('9.96', '10')
    >>> shown(84.96, ">=", 85)
    ('84.96', '85')
    """
    if op not in OPS:
        raise ValueError(f"RESULT comparison must be one of {sorted(OPS)}, got {op!r}")
    if style not in ("f", "g"):
        raise ValueError(f"RESULT number style must be 'f' or 'g', got {style!r}")
    value, target = float(value), float(target)
    if not (math.isfinite(value) and math.isfinite(target)):
        return repr(value), repr(target)
    truth = OPS[op](value, target)
    for extra in range(_MAX_EXTRA_DIGITS + 1):
        value_text = _number(value, digits + extra, style)
        target_text = _target_text(target, digits + extra, style)
        if OPS[op](float(value_text), float(target_text)) == truth:
            return value_text, target_text
    return repr(value), repr(target)


def result_line(name: str, value: float, unit: str, op: str, target: float, digits: int = 1,
                style: str = "f") -> str:
    """``RESULT <name>: <value> <unit> (target <op> <target>)``, numbers as :func:`shown` prints them.

    >>> result_line("uas_gender", 84.96, "%", ">=", 85)
    'RESULT uas_gender: 84.96 % (target >= 85)'
    """
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"RESULT name must be letters, digits, '_', '.' or '-', got {name!r}")
    value_text, target_text = shown(value, op, target, digits, style)
    return f"RESULT {name}: {value_text} {unit} (target {op} {target_text})"


def parse_result_line(line: str) -> dict | None:
    """The fields of one RESULT line (``name``, ``value``, ``unit``, ``op``, ``target`` as printed, ``met`` judged
    from the printed numbers), or None for any other line."""
    match = RESULT_PATTERN.match(line.strip())
    if not match:
        return None
    row = match.groupdict()
    row["met"] = OPS[row["op"]](float(row["value"]), float(row["target"]))
    return row


__all__ = ["OPS", "RESULT_PATTERN", "parse_result_line", "result_line", "shown"]
