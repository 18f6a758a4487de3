"""Let ``diffusers.DiffusionPipeline.from_pretrained(folder)`` load a saved ``ForesightPipeline``.

Why this exists: a saved folder's ``model_index.json`` says ``"_class_name": "ForesightPipeline"``,
and diffusers finds that class with ``getattr(diffusers, "ForesightPipeline")`` (its own pipelines
are attributes of the ``diffusers`` module; it has no registry for others). Hub tooling and users
call ``DiffusionPipeline.from_pretrained`` on any pipeline folder, so the name must be reachable
there once ``foresight_models`` is imported, while ``import foresight_models`` must stay cheap and
must not import diffusers.

How, in two plain steps:

1. :func:`install` (run by ``import foresight_models``) adds a meta path finder that, whenever the
   ``diffusers`` package is imported (or reloaded, which makes a new module object), lets diffusers
   run its own ``__init__`` and then calls :func:`_extend` on the module; if diffusers is already
   imported it is extended at once.
2. :func:`_extend` gives the ``diffusers`` module a module-level ``__getattr__`` (PEP 562) that
   imports ``foresight_models.pipelines.foresight_pipeline`` when ``ForesightPipeline`` is first
   asked for, and hands every other unknown name on to diffusers' own lazy lookup.

Nothing of diffusers is replaced or changed otherwise. The component classes a folder names (e.g.
``["foresight_models.models.adapters", "QueryAdapter"]``) are found by diffusers in ``sys.modules``,
where importing the pipeline module puts them (it uses them to check its components).
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
