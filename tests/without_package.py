"""The opening of a script run in a fresh interpreter where any import of uas_audio fails, as on a machine where
the package is not installed (remote-code loading, model-card snippets)."""

import textwrap

WITHOUT_UAS_AUDIO = textwrap.dedent("""
    import importlib.abc, sys
    class _NoPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "uas_audio" or name.startswith("uas_audio."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, _NoPackage())
""")
