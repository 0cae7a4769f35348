"""The dataset card: configs metadata per dataset kind, features, size, annotation and human-review figures."""

import io

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
import yaml
from datasets import Audio, Dataset, DatasetDict, Features, Value
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import metadata_load

from uas_audio.hub_cards import build_dataset_card
from uas_audio.hub_cards.dataset_card import configs_metadata, size_category
from uas_audio.schema import uas_features

# The annotation runner's report.json shape (uas_audio.annotate.report.summarize), with rejections.
REPORT = {
    "total": 10,
    "status": {"accepted": 7, "rejected": 2, "error": 1},
    "reasons_by_status": {"rejected": {"ontology": 1, "transcription_integrity": 1}, "error": {"audio_decode": 1}},
    "reasons_by_field": {"ontology:paralinguistics.emotion": 1},
    "distributions": {
        "speech": {"speech": 5, "no speech": 2},
        "paralinguistics.gender": {"Male": 3, "Female": 2, "None": 2},
        "paralinguistics.timbre": {"distinct": 2, "top": {"warm": 4, "None": 3}},
        "nonLinguisticEvents.discreteEvents": {"labels": {"door slam": 2}, "per_clip": {"0": 5, "1": 2}},
    },
    "experts": [{"name": "pitch", "model": "uas-audio signal processing", "revision": None, "licence": "Apache-2.0 (uas-audio)"},
                {"name": "silero_vad", "model": "silero-vad", "revision": "6.2.3", "licence": "MIT"}],
}
# The review app's report.json shape (uas_audio.review.report), figures of the paper's Appendix A.
REVIEW = {"format": "uas-review-report/1", "annotators": ["alice", "bob", "carol"], "items": 400,
          "unresolved_rule": "exclude", "agreement": {"fleiss_kappa": 0.79, "items": 4000, "raters": 3},
          "fields": {
              "paralinguistics.age": {"field": "paralinguistics.age", "correct": 394, "n": 400, "accuracy": 0.985,
                                      "ci_low": 0.9677, "ci_high": 0.9931, "unresolved": 0, "kappa": 0.81,
                                      "kappa_items": 400},
              "paralinguistics.emotion": {"field": "paralinguistics.emotion", "correct": 356, "n": 400,
                                          "accuracy": 0.89, "kappa": None},
          }}


def _wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int(16000 * seconds), dtype=np.float32), 16000, format="WAV")
    return buffer.getvalue()


def _uas(text):
    para = dict.fromkeys(["age", "gender", "emotion", "accent", "prosody", "timbre"])
    return {"transcription": text, "paralinguistics": para,
            "nonLinguisticEvents": {"description": "quiet room", "discreteEvents": [], "continuousEvents": []}}


def _uas_split(n: int, seconds: float) -> Dataset:
    features = Features({"id": Value("string"), "audio": Audio(decode=False), "uas": uas_features(),
                         "duration_s": Value("float64")})
    rows = [{"id": f"c{i}", "audio": {"bytes": _wav(seconds), "path": None}, "uas": _uas(None), "duration_s": seconds}
            for i in range(n)]
    # built from Arrow: encoding through the Audio feature would need torchcodec
    return Dataset(pa.Table.from_pylist(rows, schema=features.arrow_schema))


@pytest.fixture(scope="module")
def card():
    data = DatasetDict({"train": _uas_split(6, 1.5), "test": _uas_split(2, 3.0)})
    config = {"experts": ["pitch", {"type": "audio-classification", "model": "./emotion", "field": "emotion"}],
              "synthesizer": {"type": "llm", "endpoint": "http://127.0.0.1:8000/v1", "model": "m",
                              "api_key_env": "MY_SECRET_VAR"}, "batch_size": 16}
    return build_dataset_card({"uas": data}, annotation_report=REPORT, annotation_config=config,
                              review_report=REVIEW, repo_id="someone/uas-data")


def _meta(card):
    return yaml.safe_load(card.content.split("---")[1])


def test_configs_list_each_split_of_each_kind():
    assert configs_metadata({"uas_qa": ["train"], "uas": ["train", "test"]}) == [
        {"config_name": "uas", "default": True, "data_files": [{"split": "train", "path": "uas/train-*.parquet"},
                                                               {"split": "test", "path": "uas/test-*.parquet"}]},
        {"config_name": "uas_qa", "data_files": [{"split": "train", "path": "uas_qa/train-*.parquet"}]},
    ]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"unknown dataset kind\(s\) \['captions'\]"):
        configs_metadata({"captions": ["train"]})


def test_metadata_parses_and_round_trips(card, tmp_path):
    meta = _meta(card)
    assert meta["configs"][0]["config_name"] == "uas"
    assert [f["split"] for f in meta["configs"][0]["data_files"]] == ["train", "test"]
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"] and "uas" in meta["tags"]
    card.save(tmp_path / "README.md")
    assert metadata_load(tmp_path / "README.md")["pretty_name"] == "uas-data"
    assert DatasetCard.load(tmp_path / "README.md").data.to_dict() == card.data.to_dict()


def test_size_table_gives_rows_and_hours_per_split(card):
    assert "| uas | train | 6 | 0.003 |" in card.content  # 6 x 1.5 s
    assert "| uas | test | 2 | 0.002 |" in card.content  # 2 x 3 s


def test_features_render_the_uas_struct_as_a_tree(card):
    assert "uas:\n    transcription: string\n    paralinguistics:\n        age: string" in card.content
    assert "    nonLinguisticEvents:\n        description: string\n        discreteEvents: list of\n" \
           "            label: string\n            characteristic: string" in card.content
    assert "audio: audio (encoded file bytes + path)" in card.content


def test_validation_counts_per_status_and_reason(card):
    for row in ("| accepted | 7 |", "| rejected | 2 |", "| error | 1 |", "| rejected | ontology | 1 |",
                "| rejected | transcription_integrity | 1 |", "| error | audio_decode | 1 |"):
        assert row in card.content, row


def test_every_expert_is_listed_with_model_revision_and_licence(card):
    text = str(card)
    assert "## Annotation experts" in text
    assert "| silero_vad | silero-vad | 6.2.3 | MIT |" in text and "| pitch | uas-audio signal processing |" in text


def test_value_distributions_per_field(card):
    assert "### paralinguistics.gender\n\n| value | records |\n|---|---|\n| Male | 3 |" in card.content
    assert "2 distinct values; most common:" in card.content
    assert "| door slam | 2 |" in card.content and "| events | clips |" in card.content


def test_annotation_config_is_shown_without_secret_names(card):
    assert "| experts | pitch; type=audio-classification, model=./emotion, field=emotion |" in card.content
    assert "| synthesizer | type=llm, endpoint=http://127.0.0.1:8000/v1, model=m |" in card.content
    assert "MY_SECRET_VAR" not in card.content


def test_review_table_has_accuracy_and_wilson_interval(card):
    # Appendix A's figures for N=400: Age 98.50 [96.77, 99.31], Emotion 89.00 [85.55, 91.70]
    assert "| paralinguistics.age | 400 | 98.50 | [96.77, 99.31] | 0.81 |" in card.content
    assert "| paralinguistics.emotion | 400 | 89.00 | [85.55, 91.70] | - |" in card.content
    assert "over 400 records by 3 annotators" in card.content
    assert "Ties and Unsure majorities are left out of N." in card.content
    assert "Fleiss' kappa, all fields): 0.79" in card.content


def test_annotator_names_stay_out_of_the_card(card):
    assert not any(name in card.content for name in ("alice", "bob", "carol"))


def test_no_review_no_review_section():
    card = build_dataset_card({"uas": _uas_split(2, 1.0)}, repo_id="a/b")
    assert "## Human verification" not in card.content and "## Validation" not in card.content


def test_review_field_without_counts_is_named():
    with pytest.raises(ValueError, match="field 'transcription' lacks 'n'"):
        build_dataset_card({"uas": _uas_split(2, 1.0)}, review_report={"fields": {"transcription": {"correct": 3}}})


@pytest.mark.parametrize("rows,bucket", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (250_000, "100K<n<1M")])
def test_size_category(rows, bucket):
    assert size_category(rows) == bucket
