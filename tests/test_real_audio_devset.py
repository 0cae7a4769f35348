"""The real-audio set's sources: the KLettres credits parser and the speaker split (no download: fast)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "datasets"))

import real_audio_devset as devset  # noqa: E402

_DOCBOOK = """<itemizedlist>
<listitem><para>Brazilian Portuguese sounds: Lindonjohnson Monte (Father) and Michelle Monte 09 years (Son)
<email>x@example.org</email></para> </listitem>
<listitem><para>English sounds: Robert Wadley
<email>y@example.org</email></para></listitem>
<listitem><para>Low Saxon sounds: Manfred Wiese and S\u00f6nke Dibbern
<email>z@example.org</email></para></listitem>
<listitem><para>Original icons:  &Primoz.Anzur;
<email>w@example.org</email></para></listitem>
</itemizedlist>"""


def test_klettres_credits_maps_each_language_to_its_credited_speakers():
    credits = devset.klettres_credits(_DOCBOOK)
    assert credits == {"Brazilian Portuguese": "Lindonjohnson Monte (Father) and Michelle Monte 09 years (Son)",
                       "English": "Robert Wadley", "Low Saxon": "Manfred Wiese and S\u00f6nke Dibbern"}


def test_klettres_voices_are_single_gender_languages_the_credits_name():
    for voice in devset.KLETTRES_VOICES:
        assert voice.gender in ("Male", "Female") and voice.split in ("dev", "heldout")
        assert voice.credit not in ("Brazilian Portuguese", "Spanish")  # a man and a child / a woman: who speaks?
    assert sum(v.gender == "Male" for v in devset.KLETTRES_VOICES if v.split == "heldout") >= 3


def test_every_speaker_is_in_one_part_only():
    where: dict[str, set[str]] = {}
    for v in devset.PROMPT_VOICES:  # (Carlo Flora's ``heldout_prompts``: other recordings, the one declared exception)
        where.setdefault(v.speaker, set()).add(v.split)
    for v in devset.KLETTRES_VOICES:
        where.setdefault(v.speaker, set()).add(v.split)
    for _, _, _, speaker, _, _, split in devset.ARCTIC:
        where.setdefault(f"CMU ARCTIC {speaker}", set()).add(split)
    assert all(len(parts) == 1 for parts in where.values()), where
    new = {v.speaker for v in devset.KLETTRES_VOICES}
    assert not new & {v.speaker for v in devset.PROMPT_VOICES}


def test_a_cached_set_of_another_version_is_rebuilt_not_reused(tmp_path, monkeypatch):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "old.wav").write_bytes(b"RIFF")
    (tmp_path / "manifest.jsonl").write_text('{"id": "old"}\n')  # a version-1 cache had no VERSION file
    built = []

    def fake_root(package, cache):  # stop the rebuild at its first fetch: what matters is what it removed first
        built.append(package)
        raise RuntimeError("no network in this test")

    monkeypatch.setattr(devset, "_package_root", fake_root)
    try:
        devset.build(tmp_path)
    except RuntimeError:
        pass
    assert built and not (tmp_path / "manifest.jsonl").exists() and not (tmp_path / "clips").exists()
    (tmp_path / "manifest.jsonl").write_text('{"id": "current"}\n')
    (tmp_path / "VERSION").write_text(f"{devset.VERSION}\n")
    assert devset.build(tmp_path) == tmp_path / "manifest.jsonl"  # the current version is reused as it is
