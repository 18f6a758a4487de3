"""Let ``diffusers.DiffusionPipeline.from_pretrained`` find ``ForesightPipeline`` after ``import foresight_models``.

diffusers resolves a folder's pipeline class with ``getattr(diffusers, model_index["_class_name"])``,
so the name must be reachable on the ``diffusers`` module. ``import foresight_models`` must stay
cheap and must not import diffusers, so instead of importing the pipeline eagerly this module
extends the ``diffusers`` module's attribute lookup with our pipeline names, resolved on first use:
immediately when diffusers is already imported, otherwise right after diffusers' own import runs.
The pipeline module in turn imports our component modules, which diffusers then finds in
``sys.modules`` under the module paths ``model_index.json`` records.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from types import ModuleType

__all__ = ["PIPELINE_NAMES", "install"]

#: pipeline class name -> module that defines it
PIPELINE_NAMES: dict[str, str] = {"ForesightPipeline": "foresight_models.pipeline"}


def _extend(module: ModuleType) -> None:
    """Make ``module.<name>`` resolve the names of :data:`PIPELINE_NAMES` on first access."""
    base = type(module)
    if getattr(base, "_foresight_pipeline_names", None) is not None:
        return

    class _WithForesightPipelines(base):
        _foresight_pipeline_names = PIPELINE_NAMES

        def __getattr__(self, name: str):
            if name in PIPELINE_NAMES:
                value = getattr(importlib.import_module(PIPELINE_NAMES[name]), name)
                setattr(self, name, value)
                return value
            fallback = getattr(base, "__getattr__", None)
            if fallback is None:
                raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
            return fallback(self, name)

    _WithForesightPipelines.__name__ = base.__name__
    _WithForesightPipelines.__qualname__ = base.__qualname__
    module.__class__ = _WithForesightPipelines


class _AfterDiffusersImport(importlib.abc.MetaPathFinder):
    """Finds ``diffusers`` through the other finders and extends it once its ``__init__`` has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "diffusers":
            return None
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self]
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is not None and (spec := find_spec(fullname, path, target)) is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_extend(module: ModuleType) -> None:
            exec_module(module)
            _extend(sys.modules.get(fullname, module))

        spec.loader.exec_module = exec_then_extend
        return spec


def install() -> None:
    """Extend ``diffusers`` now if it is imported, else as soon as it is (idempotent)."""
    if "diffusers" in sys.modules:
        _extend(sys.modules["diffusers"])
    elif not any(isinstance(finder, _AfterDiffusersImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterDiffusersImport())
