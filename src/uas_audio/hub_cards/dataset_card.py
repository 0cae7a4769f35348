"""The dataset card of a UAS / UAS-QA dataset: configs metadata, features, size, annotation and review figures.

Built with huggingface_hub's ``DatasetCard`` / ``DatasetCardData`` from ``templates/dataset_card.md``. The
metadata's ``configs`` list one config per dataset kind (``uas``, ``uas_qa``) with a ``data_files`` entry per
split, pointing at the parquet shards ``push.stage_dataset`` writes (``<kind>/<split>-*.parquet``).

Inputs besides the data are the plain dicts other parts of the package write: the annotation run's
``report.json`` (``uas_audio.annotate.report.summarize``), its configuration (``AnnotateConfig`` or the dict of
its YAML) and the review app's ``report.json`` (``uas_audio.review.report``: ``{"fields": {path: {"correct",
"n", "kappa"?, ...}}, "items": int, "annotators": [names], "unresolved_rule": str, "agreement": {...}}``;
per-field majority-vote accuracy, the Wilson interval recomputed from ``correct``/``n``; annotator names are
not written into the card, only their number).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from huggingface_hub import DatasetCard, DatasetCardData

from .model_card import _template_text

#: Dataset kinds a repository can hold, in the order their configs are listed (the first is the default).
KINDS = ("uas", "uas_qa")
TAGS = ("uas", "audio", "speech", "paralinguistics", "sound-events", "uas-audio")
TASK_CATEGORIES = ("automatic-speech-recognition", "audio-classification")

# Never written into a card: names of secrets' environment variables and anything that looks like a credential.
_SECRET_HINTS = ("api_key", "token", "password", "secret")


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket for ``rows`` rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, name in bounds:
        if rows < bound:
            return name
    return "n>1T" if rows > 10 ** 12 else "1B<n<10B"


def configs_metadata(splits: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """The card's ``configs`` entry: kind → its splits' parquet shards; the first kind is the default."""
    unknown = sorted(set(splits) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown dataset kind(s) {unknown}; expected some of {list(KINDS)}")
    configs = []
    for kind in [k for k in KINDS if k in splits]:
        entry: dict[str, Any] = {"config_name": kind,
                                 "data_files": [{"split": s, "path": f"{kind}/{s}-*.parquet"} for s in splits[kind]]}
        if not configs:
            entry["default"] = True
        configs.append(entry)
    return configs


def feature_tree(features: Any, indent: str = "") -> str:
    """``datasets.Features`` as an indented tree of names and types (lists marked "list of")."""
    return "\n".join(line for name, feature in features.items() for line in _feature_lines(name, feature, indent))


def _feature_lines(name: str, feature: Any, indent: str) -> list[str]:
    from datasets import LargeList, List, Sequence

    if isinstance(feature, (List, LargeList, Sequence)):
        inner = feature.feature
        if isinstance(inner, dict):
            return [f"{indent}{name}: list of"] + [line for k, v in inner.items()
                                                   for line in _feature_lines(k, v, indent + "    ")]
        return [f"{indent}{name}: list of {_leaf(inner)}"]
    if isinstance(feature, dict):
        return [f"{indent}{name}:"] + [line for k, v in feature.items() for line in _feature_lines(k, v, indent + "    ")]
    return [f"{indent}{name}: {_leaf(feature)}"]


def _leaf(feature: Any) -> str:
    from datasets import Audio, Value

    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, Audio):
        return "audio (encoded file bytes + path)"
    return type(feature).__name__


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _config_rows(config: Any) -> list[tuple[str, str]]:
    if config is None:
        return []
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"annotation_config: expected AnnotateConfig or a mapping, got {type(config).__name__}")

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if not any(h in str(k).lower() for h in _SECRET_HINTS)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    def show(value: Any) -> str:
        if isinstance(value, list):
            return "; ".join(show(v) for v in value) or "none"
        if isinstance(value, Mapping):
            return ", ".join(f"{k}={show(v)}" for k, v in value.items())
        return "none" if value is None else str(value)

    config = clean(config)
    rows = [("experts", show(config.get("experts", []))),
            ("synthesizer", show(config.get("synthesizer") or {"type": "rules"}))]
    rows += [(k, show(v)) for k, v in config.items() if k not in ("experts", "synthesizer")]
    return rows


def _distribution_tables(distributions: Mapping[str, Any]) -> list[tuple[str, str]]:
    tables = []
    for name, dist in distributions.items():
        if "top" in dist:
            text = f"{dist['distinct']} distinct values; most common:\n\n" + _table(
                ("value", "records"), list(dist["top"].items()))
        elif "labels" in dist:
            text = (_table(("label", "records"), list(dist["labels"].items())) + "\n\nEvents per clip:\n\n"
                    + _table(("events", "clips"), list(dist["per_clip"].items())))
        else:
            text = _table(("value", "records"), list(dist.items()))
        tables.append((name, text))
    return tables


def _review_rows(review: Mapping[str, Any]) -> list[tuple]:
    from ..evaluation.intervals import wilson_interval

    fields = review.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError("review report: expected a non-empty 'fields' mapping of field path → {correct, n}")
    rows = []
    for path, entry in fields.items():
        try:
            correct, n = int(entry["correct"]), int(entry["n"])
        except KeyError as err:
            raise ValueError(f"review report: field {path!r} lacks {err.args[0]!r}") from None
        if n < 1:
            continue  # a field nobody resolved has no accuracy
        low, high = wilson_interval(correct, n)
        kappa = entry.get("kappa")
        rows.append((path, n, f"{100 * correct / n:.2f}", f"[{100 * low:.2f}, {100 * high:.2f}]",
                     "-" if kappa is None else f"{kappa:.2f}"))
    return rows


def _review_intro(review: Mapping[str, Any]) -> str:
    items = review.get("items")
    annotators = review.get("annotators")
    count = len(annotators) if isinstance(annotators, (list, tuple)) else annotators
    text = ("Human reviewers marked each field of randomly drawn records Correct / Incorrect / Unsure; accuracy "
            "is the majority vote per field" + (f" over {items} records" if items else "")
            + (f" by {count} annotators" if count else "") + ", with its 95 % Wilson score interval.")
    rule = review.get("unresolved_rule")
    if rule:
        text += (" Ties and Unsure majorities are " + ("left out of N." if rule == "exclude"
                                                        else "counted as not correct."))
    kappa = (review.get("agreement") or {}).get("fleiss_kappa")
    if kappa is not None:
        text += f" Inter-annotator agreement (Fleiss' kappa, all fields): {kappa:.2f}."
    return text


def build_dataset_card(
    datasets: Mapping[str, Any],
    *,
    annotation_report: Mapping[str, Any] | None = None,
    annotation_config: Any = None,
    review_report: Mapping[str, Any] | None = None,
    license: str = "cc-by-4.0",
    pretty_name: str | None = None,
    repo_id: str = "<repo-id>",
) -> DatasetCard:
    """The card of a dataset repository holding ``datasets`` (kind → ``DatasetDict`` or ``Dataset``; kinds
    ``uas`` and ``uas_qa``). ``annotation_report`` / ``annotation_config`` describe the UAS annotation run and
    ``review_report`` its human verification (see the module docstring for their shapes)."""
    from datasets import DatasetDict

    data = {kind: ds if isinstance(ds, DatasetDict) else DatasetDict({"train": ds}) for kind, ds in datasets.items()}
    if not data:
        raise ValueError("build_dataset_card: no datasets given")
    configs = configs_metadata({kind: list(dd) for kind, dd in data.items()})
    kinds = [c["config_name"] for c in configs]

    size_rows, total = [], 0
    for kind in kinds:
        for split, ds in data[kind].items():
            hours = f"{sum(ds['duration_s']) / 3600:.3f}" if "duration_s" in ds.column_names else "-"
            size_rows.append({"config": kind, "split": split, "rows": len(ds), "hours": hours})
            total += len(ds)
    pretty_name = pretty_name or repo_id.rsplit("/", 1)[-1]
    card_data = DatasetCardData(
        license=license, pretty_name=pretty_name, tags=list(TAGS), task_categories=list(TASK_CATEGORIES),
        size_categories=[size_category(total)], configs=configs,
    )

    status_table = reasons_table = experts_table = ""
    distributions: list[tuple[str, str]] = []
    if annotation_report is not None:
        status_table = _table(("status", "records"), list(annotation_report["status"].items()))
        reasons = [(status, code, n) for status, codes in annotation_report.get("reasons_by_status", {}).items()
                   for code, n in codes.items()]
        reasons_table = _table(("status", "reason", "records"), reasons) if reasons else ""
        distributions = _distribution_tables(annotation_report.get("distributions", {}))
        if annotation_report.get("experts"):
            experts_table = _table(("expert", "model", "revision", "licence"),
                                   [(e.get("name"), e.get("model"), e.get("revision") or "", e.get("licence") or "")
                                    for e in annotation_report["experts"]])

    review_table = review_intro = ""
    if review_report is not None:
        review_table = _table(("field", "N", "accuracy (%)", "95 % Wilson interval (%)", "Fleiss' kappa"),
                              _review_rows(review_report))
        review_intro = _review_intro(review_report)

    qa_table = ""
    if "uas_qa" in data:
        from collections import Counter

        counts: Counter = Counter()
        for ds in data["uas_qa"].values():
            counts.update(zip(ds["kind"], ds["field"]))
        qa_table = _table(("kind", "field", "questions"), [(k, f, n) for (k, f), n in sorted(counts.items())])

    return DatasetCard.from_template(
        card_data,
        template_str=_template_text("dataset_card.md"),
        pretty_name=pretty_name,
        repo_id=repo_id,
        kinds=kinds,
        size_rows=size_rows,
        feature_trees=[(kind, feature_tree(next(iter(data[kind].values())).features)) for kind in kinds],
        annotation_config=_config_rows(annotation_config),
        status_table=status_table,
        reasons_table=reasons_table,
        experts_table=experts_table,
        distributions=distributions,
        review_table=review_table,
        review_intro=review_intro,
        qa_table=qa_table,
    )
