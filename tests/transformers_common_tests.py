"""transformers' own common test mixins, taken from the source distribution of the *installed* transformers.

The sdist (``pip download --no-deps --no-binary :all: transformers==X``) carries ``tests/test_*_common.py`` and the
mixin files but not every module they import (5.23/5.24 ship neither ``tests/generation/test_utils.py`` nor
``tests/exporters/test_export.py``, ``tests/utils/test_configuration_utils.py`` or ``utils/fetch_hub_objects_for_ci``).
Its ``tests/`` folder is extracted once into ``<venv>/transformers-tests/<version>/transformers_tests/`` (ignored
by git; one folder per venv, so a venv with another transformers gets its own copy) and imported as the package
``transformers_tests``. A module the sdist lacks is replaced by a stand-in whose every use is spelled out below;
nothing of transformers' is committed here.

Run as a script (``python tests/transformers_common_tests.py``, what ``make transformers-tests`` does) it only
fetches; test modules call ``load()``, which fetches on first use too, so a bare ``pytest`` works on a fresh clone.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import transformers

PACKAGE = "transformers_tests"
VERSION = transformers.__version__


def cache_root() -> Path:
    """Where the extracted tests live: ``$UAS_TRANSFORMERS_TESTS_DIR`` or ``<sys.prefix>/transformers-tests``."""
    return Path(os.environ.get("UAS_TRANSFORMERS_TESTS_DIR") or Path(sys.prefix) / "transformers-tests") / VERSION


def fetch() -> Path:
    """The extracted ``tests/`` package of the installed transformers, downloading the sdist on first use."""
    root = cache_root()
    package = root / PACKAGE
    if (package / ".complete").is_file():
        return package
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:  # make's step and a test session may race on a fresh clone
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (package / ".complete").is_file():
            return package
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                       f"transformers=={VERSION}", "--dest", scratch]
            result = subprocess.run(command, capture_output=True, text=True)
            archives = list(Path(scratch).glob("transformers-*.tar.gz"))
            if result.returncode or not archives:
                raise RuntimeError(
                    f"could not download the transformers {VERSION} source distribution for its common tests "
                    f"({' '.join(command)}):\n{result.stderr[-2000:]}"
                )
            prefix = f"transformers-{VERSION}/tests/"
            with tarfile.open(archives[0]) as archive:
                members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
                if not any(m.name == prefix + "test_modeling_common.py" for m in members):
                    raise RuntimeError(f"the transformers {VERSION} sdist has no tests/test_modeling_common.py")
                for member in members:
                    member.name = member.name[len(prefix):]
                archive.extractall(Path(scratch) / PACKAGE, members=members, filter="data")
            staged = Path(scratch) / PACKAGE
            (staged / "__init__.py").touch()
            shutil.rmtree(package, ignore_errors=True)
            staged.rename(package)
        (package / ".complete").touch()
    return package


def has_module(relative: str) -> bool:
    """Whether the sdist ships ``tests/<relative>.py`` (e.g. ``"generation/test_utils"``)."""
    return (fetch() / f"{relative}.py").is_file()


def _stand_in(name: str, doc: str, **attributes) -> None:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attributes)
    sys.modules[name] = module


class _NoGenerationMixin:
    """Stand-in for ``GenerationTesterMixin`` where the sdist lacks ``tests/generation/test_utils.py``: it adds no
    tests. ``tests/test_transformers_common.py`` then runs its own generation checks instead (and says so)."""


class _NoExportMixin:
    """Stand-in for ``ExportTesterMixin`` (``tests/exporters/test_export.py`` is not in the sdist): no tests."""


# test_configuration_common checks that every one of these PreTrainedConfig keyword arguments, set to a value
# different from its default, survives the config's __init__ (upstream keeps the dict in tests/utils/, which the
# sdist lacks). Our own list of the common kwargs of transformers 5.x's PreTrainedConfig.
_CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "tie_word_embeddings": True,
    "is_encoder_decoder": True,
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}


def _local_asset(url: str, *args, **kwargs) -> str:
    """A local file for one of the mixins' test-asset URLs. Audio assets (the mixins' two sound clips) become a
    local 16 kHz WAV of the same name: one second of a deterministic chirp over noise, written once. Other URLs
    (images, videos: modalities UAS-Audio has not) are returned unchanged."""
    name = url.rsplit("/", 1)[-1]
    stem, _, extension = name.rpartition(".")
    if extension.lower() not in ("wav", "mp3", "flac", "ogg"):
        return url
    import numpy as np
    import soundfile

    path = cache_root() / "assets" / f"{stem}.wav"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        rate = 16000
        t = np.arange(rate) / rate
        rng = np.random.default_rng(len(stem))
        wave = 0.3 * np.sin(2 * np.pi * (200 + 600 * t) * t) + 0.02 * rng.standard_normal(rate)
        soundfile.write(path, wave.astype(np.float32), rate)
    return str(path)


def load() -> types.ModuleType:
    """Import and return the ``transformers_tests`` package (fetching it if needed), stand-ins installed first."""
    package_dir = fetch()
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    sys.path.insert(0, str(package_dir.parent))
    if not has_module("generation/test_utils"):
        _stand_in(f"{PACKAGE}.generation", "stand-in package")
        _stand_in(f"{PACKAGE}.generation.test_utils", "stand-in", GenerationTesterMixin=_NoGenerationMixin)
    if not has_module("exporters/test_export"):
        _stand_in(f"{PACKAGE}.exporters", "stand-in package")
        _stand_in(f"{PACKAGE}.exporters.test_export", "stand-in", ExportTesterMixin=_NoExportMixin)
    if not has_module("utils/test_configuration_utils"):
        _stand_in(f"{PACKAGE}.utils", "stand-in package")
        _stand_in(f"{PACKAGE}.utils.test_configuration_utils", "stand-in", config_common_kwargs=_CONFIG_COMMON_KWARGS)
    if importlib.util.find_spec("fetch_hub_objects_for_ci") is None:
        # test_processing_common maps its test-asset URLs to local copies with it (upstream CI downloads them first).
        _stand_in("fetch_hub_objects_for_ci", "stand-in", url_to_local_path=_local_asset)
    return importlib.import_module(PACKAGE)


def module(name: str) -> types.ModuleType:
    """``transformers_tests.<name>``, e.g. ``module("test_modeling_common")``."""
    load()
    return importlib.import_module(f"{PACKAGE}.{name}")


if __name__ == "__main__":
    print(fetch())
