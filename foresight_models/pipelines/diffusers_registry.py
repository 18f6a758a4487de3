"""Let ``diffusers.DiffusionPipeline.from_pretrained`` find ``ForesightPipeline`` after ``import foresight_models``.

diffusers resolves a folder's pipeline class with ``getattr(diffusers, model_index["_class_name"])``,
so the name must be reachable on the ``diffusers`` module. ``import foresight_models`` must stay
cheap and must not import diffusers, so instead of importing the pipeline eagerly this module gives
the ``diffusers`` module a module-level ``__getattr__`` (PEP 562) that resolves our pipeline names on
first use and leaves every other name to diffusers' own lazy lookup. It is added immediately when
diffusers is already imported, and by a meta path finder every time diffusers' ``__init__`` runs
(its first import and any ``importlib.reload``, which replaces the module object).
The pipeline module in turn imports our component modules, which diffusers then finds in
``sys.modules`` under the module paths ``model_index.json`` records.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from types import ModuleType

__all__ = ["PIPELINE_NAMES", "install"]

#: pipeline class name -> module that defines it
PIPELINE_NAMES: dict[str, str] = {"ForesightPipeline": "foresight_models.pipelines.foresight_pipeline"}

_INSTALL_LOCK = threading.Lock()


def _extend(module: ModuleType) -> None:
    """Make ``module.<name>`` resolve the names of :data:`PIPELINE_NAMES` on first access (idempotent)."""
    if getattr(module.__dict__.get("__getattr__"), "_foresight_pipeline_names", False):
        return
    previous = module.__dict__.get("__getattr__")  # a module-level __getattr__ of diffusers' own, if any

    def __getattr__(name: str):
        if name in PIPELINE_NAMES:
            value = getattr(importlib.import_module(PIPELINE_NAMES[name]), name)
            setattr(module, name, value)
            return value
        if previous is not None:
            return previous(name)
        # Python then tries the module class's ``__getattr__`` (diffusers' ``_LazyModule``).
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

    __getattr__._foresight_pipeline_names = True
    module.__getattr__ = __getattr__


class _ExtendDiffusersOnImport(importlib.abc.MetaPathFinder):
    """Finds ``diffusers`` through the other finders and extends it each time its ``__init__`` has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "diffusers":
            return None
        spec = None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            if (spec := find_spec(fullname, path, target)) is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_extend(module: ModuleType) -> None:
            exec_module(module)
            _extend(sys.modules.get(fullname, module))  # diffusers replaces itself by a ``_LazyModule``

        spec.loader.exec_module = exec_then_extend
        return spec


def install() -> None:
    """Extend ``diffusers`` now if it is imported, and whenever it is (re)imported; idempotent, never imports it."""
    with _INSTALL_LOCK:
        if not any(type(finder).__name__ == _ExtendDiffusersOnImport.__name__ for finder in sys.meta_path):
            sys.meta_path.insert(0, _ExtendDiffusersOnImport())
        if "diffusers" in sys.modules:
            _extend(sys.modules["diffusers"])
