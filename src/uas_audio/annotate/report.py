"""The summary of an annotation run: status counts, counts per reason, value distributions per field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from ..schema import CATEGORIES, EVENT_KEYS, FREE_TEXT_PARALINGUISTICS, NON_LINGUISTIC_EVENTS, PARALINGUISTICS, TRANSCRIPTION

_TOP = 10
_DESCRIPTION, _DISCRETE, _CONTINUOUS = EVENT_KEYS


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts over output rows (each with ``status``, ``reasons`` and ``uas``)."""
    status: Counter = Counter()
    by_code: dict[str, Counter] = {}
    by_field: Counter = Counter()
    categorical = {key: Counter() for key in CATEGORIES}
    free_text = {key: Counter() for key in FREE_TEXT_PARALINGUISTICS}
    events = {_DISCRETE: Counter(), _CONTINUOUS: Counter()}
    event_counts = {_DISCRETE: Counter(), _CONTINUOUS: Counter()}
    speech = Counter()
    total = 0
    for row in rows:
        total += 1
        status[row["status"]] += 1
        for reason in row.get("reasons") or []:
            by_code.setdefault(row["status"], Counter())[reason["code"]] += 1
            by_field[f"{reason['code']}:{reason['field'] or '<record>'}"] += 1
        uas = row.get("uas")
        if row["status"] != "accepted" or not uas:
            continue
        speech["speech" if uas[TRANSCRIPTION] is not None else "no speech"] += 1
        para = uas[PARALINGUISTICS]
        for key in categorical:
            categorical[key][str(para[key])] += 1
        for key in free_text:
            free_text[key][str(para[key])] += 1
        for key in events:
            items = uas[NON_LINGUISTIC_EVENTS][key] or []
            event_counts[key][len(items)] += 1
            for item in items:
                events[key][item["label"]] += 1
    return {
        "total": total,
        "status": dict(status),
        "reasons_by_status": {s: dict(c) for s, c in by_code.items()},
        "reasons_by_field": dict(by_field.most_common()),
        "distributions": {
            "speech": dict(speech),
            **{f"{PARALINGUISTICS}.{k}": dict(c.most_common()) for k, c in categorical.items()},
            **{f"{PARALINGUISTICS}.{k}": {"distinct": len(c), "top": dict(c.most_common(_TOP))}
               for k, c in free_text.items()},
            **{f"{NON_LINGUISTIC_EVENTS}.{k}": {"labels": dict(c.most_common(_TOP)),
                                                "per_clip": {str(n): v for n, v in sorted(event_counts[k].items())}}
               for k, c in events.items()},
        },
    }


def _table(counts: dict[str, Any]) -> list[str]:
    return ["| value | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in counts.items()]


def render_markdown(summary: dict[str, Any]) -> str:
    lines = ["# Annotation report", "", f"Rows: {summary['total']}", "", "## Status", ""]
    lines += _table(summary["status"])
    for status, codes in summary["reasons_by_status"].items():
        lines += ["", f"## {status.capitalize()}: reasons", ""] + _table(codes)
    if summary["reasons_by_field"]:
        lines += ["", "## Reasons by field", ""] + _table(summary["reasons_by_field"])
    if summary.get("experts"):
        lines += ["", "## Experts", "", "| expert | model | revision | licence |", "|---|---|---|---|"]
        lines += [f"| {e.get('name')} | {e.get('model')} | {e.get('revision') or ''} | {e.get('licence') or ''} |"
                  for e in summary["experts"]]
    lines += ["", "## Value distributions (accepted records)"]
    for name, dist in summary["distributions"].items():
        lines += ["", f"### {name}", ""]
        if "top" in dist:
            lines += [f"{dist['distinct']} distinct values; most common:", ""] + _table(dist["top"])
        elif "labels" in dist:
            lines += ["Labels:", ""] + _table(dist["labels"]) + ["", "Events per clip:", ""] + _table(dist["per_clip"])
        else:
            lines += _table(dist)
    return "\n".join(lines) + "\n"


def write_report(summary: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """``report.json`` and ``report.md`` in ``out_dir``."""
    out = Path(out_dir)
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    md_path.write_text(render_markdown(summary))
    return json_path, md_path
