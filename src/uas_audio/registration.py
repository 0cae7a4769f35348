"""Registration with transformers (Auto classes, processor, speech tokenizer, ``audio-to-uas`` pipeline task),
deferred until transformers is loaded so that importing the package stays light.

``install()`` (run by ``import uas_audio``) registers at once when transformers is already imported. Otherwise it
puts a finder first on ``sys.meta_path`` that watches the import of ``transformers`` and of the package's own
modules and registers as soon as transformers is loaded and no package module is still executing (a package
module that imports transformers is finished first, so registration never sees it half-initialised). Then the
finder removes itself. So ``import uas_audio`` followed by ``AutoModel.from_pretrained`` or
``pipeline("audio-to-uas")`` works, while ``import uas_audio.schema`` imports neither torch nor transformers.
"""

from __future__ import annotations

import sys
import threading
import warnings
from importlib.abc import MetaPathFinder

_PACKAGE = __name__.rpartition(".")[0]
_lock = threading.RLock()
_state = threading.local()  # depth: package modules executing in this thread
_done = False
_busy = False


def register_all() -> None:
    """Register every class and the pipeline task with transformers now (imports torch and transformers). Safe to
    call more than once."""
    global _done, _busy
    with _lock:
        if _done or _busy:
            return
        _busy = True
        try:
            from .modeling import register_modeling
            from .modeling.speech import register_speech
            from .pipelines import register_pipelines
            from .processing import register_processing

            register_modeling()
            register_processing()
            register_speech()
            register_pipelines()
            _done = True
        finally:
            _busy = False
    _uninstall()


def is_registered() -> bool:
    """Whether the registration with transformers has run."""
    return _done


def install() -> None:
    """Register now if transformers is loaded, else once it is (see the module docstring)."""
    if _done:
        return
    if "transformers" in sys.modules:
        register_all()
    elif not any(isinstance(f, _AfterImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportFinder())


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterImportFinder)]


def _after_import() -> None:
    if _done or _busy or getattr(_state, "depth", 0) or "transformers" not in sys.modules:
        return
    try:
        register_all()
    except Exception as err:  # never break the import that triggered it; a later import or call retries
        warnings.warn(f"{_PACKAGE}: registering with transformers failed ({type(err).__name__}: {err}); the Auto "
                      f"classes and the audio-to-uas pipeline are unavailable until {_PACKAGE}.registration."
                      "register_all() succeeds", RuntimeWarning, stacklevel=2)


_wrapped_classes: dict[type, type] = {}


def _watched(loader):
    """A copy of ``loader`` (same class, via a subclass) whose ``exec_module`` counts package depth and calls
    ``_after_import`` when done; None where the loader cannot be copied."""
    cls = type(loader)
    if not hasattr(loader, "__dict__") or not hasattr(cls, "exec_module"):
        return None
    sub = _wrapped_classes.get(cls)
    if sub is None:
        def exec_module(self, module, _base=cls.exec_module):
            _state.depth = getattr(_state, "depth", 0) + 1
            try:
                _base(self, module)
            finally:
                _state.depth -= 1
            _after_import()

        sub = _wrapped_classes[cls] = type(cls.__name__, (cls,), {"exec_module": exec_module,
                                                                   "__module__": cls.__module__})
    copy = object.__new__(sub)
    copy.__dict__.update(loader.__dict__)
    return copy


class _AfterImportFinder(MetaPathFinder):
    """Finds ``transformers`` and the package's modules with the other finders and watches their execution."""

    def find_spec(self, name, path, target=None):
        if _done or not (name == "transformers" or name.startswith(_PACKAGE + ".")):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = _watched(spec.loader) if spec.loader is not None else None
        if loader is not None:
            spec.loader = loader
        return spec
