"""Annotation that never stops on hostile input and never guesses: LLM replies that break json, a one-sample
WAV, speech without a transcript, the CLI's account of failed files; and the embedded experts when installed."""

import io
import json
import subprocess
import sys

import datasets
import numpy as np
import pytest
import soundfile as sf

from _fake_llm import FakeChatHandler, chat_payload, serve
from uas_audio.annotate import annotate, load_annotations
from uas_audio.annotate.synthesize import LLMSynthesizer, SynthesisInput
from uas_audio.schema import parse_uas, validate
from uas_audio.schema.parsing import UASParseError

SR = 16000
_BASE = {"transcription": None, "paralinguistics": dict.fromkeys(["age", "gender", "emotion", "accent", "prosody", "timbre"]),
         "nonLinguisticEvents": {"description": "A quiet room.", "discreteEvents": [], "continuousEvents": []}}
HOSTILE = {
    "nested 1000 deep": "[" * 1000 + "]" * 1000,
    "object nested 5000 deep": '{"a":' * 5000 + "1" + "}" * 5000,
    "5000-digit number": '{"transcription": ' + "9" * 5000 + "}",
    "lone surrogate": json.dumps({**_BASE, "transcription": "\ud800"}),
    "over the size cap": json.dumps({**_BASE, "transcription": "a" * (2 << 20)}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_parse_uas_and_validate_raise_only_their_own_errors(name):
    text = HOSTILE[name]
    with pytest.raises(UASParseError):
        parse_uas(text)
    result = validate(text)
    assert not result.valid and result.codes == {"ontology"}


def test_labels_that_differ_in_case_or_spaces_are_one_label_for_parse_uas_and_validate():
    record = json.loads(json.dumps(_BASE))
    record["nonLinguisticEvents"]["continuousEvents"] = [{"label": "rain", "characteristic": "steady"},
                                                         {"label": "Rain ", "characteristic": "light"}]
    with pytest.raises(UASParseError, match="unique"):
        parse_uas(json.dumps(record))
    assert validate(record).codes == {"logical_consistency"}


def test_a_dict_with_a_lone_surrogate_is_an_ontology_failure_not_a_crash():
    assert validate({**_BASE, "transcription": "\ud800"}).codes == {"ontology"}


class _Hostile:
    def complete(self, conversations):
        return [HOSTILE[name] for name in sorted(HOSTILE)][:len(conversations)]


def test_hostile_llm_replies_become_row_errors_or_rejections_and_the_run_goes_on(tmp_path):
    out = LLMSynthesizer(_Hostile()).synthesize([SynthesisInput(str(i), None, 1.0, {}) for i in range(len(HOSTILE))])
    assert len(out) == len(HOSTILE)
    assert all(o.uas is None for o in out)  # nothing parsed, every one recorded (error or raw for stage 3)
    assert any(o.error and "over the cap" in o.error for o in out)


def _wav(x: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, x, SR, format="WAV")
    return buffer.getvalue()


def _voice() -> np.ndarray:
    """A spoken sentence (espeak-ng, resampled to 16 kHz)."""
    import soxr

    from uas_audio.synth.espeak import EspeakEngine, EspeakVoice

    with EspeakEngine() as engine:
        pcm = engine.synthesize("the quick brown fox jumps over the lazy dog", EspeakVoice("en"))
        rate = engine.sampling_rate
    return soxr.resample(pcm.astype(np.float32) / 32768.0, rate, SR).astype(np.float32)


def test_a_one_sample_wav_is_an_audio_decode_error(tmp_path):
    ds = datasets.Dataset.from_dict({"id": ["one", "ok"], "audio": [{"bytes": _wav(np.zeros(1, np.float32)), "path": None},
                                                                    {"bytes": _wav(_voice()), "path": None}],
                                     "transcript": ["a word", "a word"]}).cast_column("audio", datasets.Audio(decode=False))
    annotate(ds, tmp_path, {"experts": ["pitch", "voice_activity"]}, progress=False)
    rows = {r["id"]: r for r in load_annotations(tmp_path).to_list()}
    assert rows["one"]["status"] == "error" and rows["one"]["reasons"][0]["code"] == "audio_decode"
    assert "too short" in rows["one"]["reasons"][0]["message"]
    assert rows["ok"]["status"] != "error"


def test_speech_without_a_transcript_or_asr_is_needs_transcript_never_an_all_null_record(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    sf.write(folder / "voice.wav", _voice(), SR)
    sf.write(folder / "silence.wav", np.zeros(SR, np.float32), SR)
    annotate(folder, tmp_path / "out", {"experts": ["pitch", "formants", "voice_activity"]}, progress=False)
    rows = {r["id"]: r for r in load_annotations(tmp_path / "out").to_list()}
    assert rows["voice.wav"]["status"] == "rejected"
    assert [r["code"] for r in rows["voice.wav"]["reasons"]] == ["needs_transcript"]
    assert "no ASR expert" in rows["voice.wav"]["reasons"][0]["message"]
    assert rows["silence.wav"]["status"] == "accepted" and rows["silence.wav"]["uas"]["transcription"] is None


def test_the_cli_names_failed_files_and_exits_non_zero_when_nothing_is_accepted(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    sf.write(folder / "voice.wav", _voice(), SR)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00 not audio")
    config = tmp_path / "c.yaml"
    config.write_text("experts: [pitch, formants, voice_activity]\n")
    run = subprocess.run([sys.executable, "-m", "uas_audio.cli", "annotate", str(folder), "--out", str(tmp_path / "o"),
                          "--config", str(config), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "broken.wav: error: audio_decode" in run.stderr
    assert "voice.wav: rejected: needs_transcript (transcription)" in run.stderr
    assert "no row was accepted" in run.stderr and "Traceback" not in run.stderr


def test_embedded_experts_load_offline_from_their_wheels_and_hear_speech():
    # uas-audio[experts] is part of `make install-dev`: this test runs wherever the suite does
    from uas_audio.annotate.clip import Clip
    from uas_audio.annotate.experts import build_experts, expert_info

    vad, = build_experts(["silero_vad"])
    silence = Clip("s", np.zeros(SR, np.float32))
    out = vad([silence])[0]
    assert out["vad_speech_s"] == 0.0 and out["vad_max_prob"] < 0.2
    assert expert_info([vad])[0]["licence"] == "MIT" and expert_info([vad])[0]["revision"]


class _HostileLLM(FakeChatHandler):
    """An OpenAI-compatible endpoint on 127.0.0.1 whose replies each break a JSON reader in another way."""

    def do_POST(self):
        import re

        body = self.read_json()
        case = re.search(r"<transcript>(\w+)", body["messages"][-1]["content"]).group(1)
        content = {"deep": "[" * 1000 + "]" * 1000, "digits": '{"transcription": ' + "9" * 5000 + "}",
                   "surrogate": '{"transcription": "\\ud800"}'}.get(case)
        if case == "nestedbody":  # the HTTP body itself nested too deep for json
            payload = ('{"choices": ' + "[" * 100000 + "]" * 100000 + "}").encode()
        elif case == "surrogate":  # a lone surrogate escape inside the message content
            payload = ('{"choices": [{"message": {"role": "assistant", "content": "{\\"transcription\\": '
                       '\\"\\\\ud800\\"}"}}]}').encode()
            payload = payload.replace(b"\\\\ud800", b"\\ud800")
        else:
            payload = chat_payload(content)
        self.send_json(payload)


def test_hostile_replies_of_an_http_endpoint_are_row_errors_and_every_row_is_written(tmp_path):
    with serve(_HostileLLM) as endpoint:
        cases = ["deep", "digits", "surrogate", "nestedbody"]
        ds = datasets.Dataset.from_dict({"id": cases, "audio": [{"bytes": _wav(np.zeros(SR, np.float32)), "path": None}] * 4,
                                         "transcript": [f"{c} words" for c in cases]}
                                        ).cast_column("audio", datasets.Audio(decode=False))
        config = {"experts": ["pitch", "voice_activity"], "min_gender_confidence": 0.0,
                  "synthesizer": {"type": "llm", "endpoint": endpoint, "model": "fake", "max_retries": 0,
                                  "timeout_s": 5}}
        summary = annotate(ds, tmp_path, config, progress=False)
    rows = {r["id"]: r for r in load_annotations(tmp_path).to_list()}
    assert summary["total"] == 4 and set(rows) == set(cases)  # 4 of 4 rows written
    assert all(r["status"] in ("error", "rejected") and r["reasons"] for r in rows.values())
    assert rows["nestedbody"]["reasons"][0]["code"] == "backend_response"
    assert "RecursionError" in rows["nestedbody"]["reasons"][0]["message"]


def test_sounds_whose_labels_abstain_are_not_described_as_a_quiet_recording():
    from uas_audio.annotate.confidence import filter_event_labels
    from uas_audio.annotate.synthesize import RuleSynthesizer

    measured = {"event_labels": ["knock"], "event_onsets_s": [0.4], "event_characteristics": ["sharp"],
                "background_labels": ["music"]}
    kept = filter_event_labels(measured, speech=False, threshold=0.8)
    assert kept["event_labels"] == [] and kept["background_labels"] == ["music"]  # music is right 18 of 19 on dev
    assert kept["events_abstained"] == [["knock", 0.1111]]
    silent = filter_event_labels({**measured, "background_labels": []}, speech=False, threshold=0.8)
    record = RuleSynthesizer().record(SynthesisInput("x", None, 2.0, silent))
    assert record["nonLinguisticEvents"]["discreteEvents"] == []
    assert record["nonLinguisticEvents"]["description"] == "A recording without speech, with sounds that could not be identified."
