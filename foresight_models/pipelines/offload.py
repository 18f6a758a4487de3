"""Group offloading of every component of a pipeline, the VLM and T5 included.

diffusers' group offloading keeps weights on the CPU and moves them to the accelerator group by group,
right before a group runs (its ``apply_group_offloading`` hook works on any ``torch.nn.Module``). Its
``"block_level"`` groups are the blocks of a module's ``ModuleList``; what is outside them is moved when
the module's own ``forward`` runs. That fits the LTX transformer, which is only ever called through
``forward``, but not the components entered through other methods: transformers' ``generate`` calls the
VLM's vision tower and token embedding before any ``forward`` of the whole model, and LTX calls the VAE's
``encode`` and ``decode``. Those components get ``"leaf_level"`` groups (each layer moves when it runs),
which are correct whatever the entry point.
"""

from __future__ import annotations

from typing import Any

import torch

from .._validation import check_choice, check_int

__all__ = ["OFFLOAD_TYPES", "enable_group_offload"]

OFFLOAD_TYPES = ("block_level", "leaf_level")


def enable_group_offload(
    pipe: Any,
    onload_device: torch.device | str,
    *,
    offload_device: torch.device | str = "cpu",
    offload_type: str = "block_level",
    num_blocks_per_group: int | None = None,
    non_blocking: bool = False,
    use_stream: bool = False,
    record_stream: bool = False,
    low_cpu_mem_usage: bool = False,
    offload_to_disk_path: str | None = None,
    exclude_modules: str | list[str] | None = None,
) -> None:
    """Apply group offloading to every ``torch.nn.Module`` component of ``pipe``.

    Args:
        onload_device: where each group runs (the accelerator).
        offload_device: where the weights wait (the CPU).
        offload_type: the LTX transformer's groups: ``"block_level"`` (``num_blocks_per_group`` blocks
            each, default 1) or ``"leaf_level"``. The other components always use ``"leaf_level"``.
        non_blocking, use_stream, record_stream, low_cpu_mem_usage, offload_to_disk_path: as in diffusers'
            ``apply_group_offloading`` (``use_stream=True`` overlaps the transfers with compute on CUDA).
        exclude_modules: component names left out; they are moved to ``onload_device`` whole.

    Raises:
        ValueError: an unknown ``offload_type`` or a name in ``exclude_modules`` that is not a component.
    """
    from diffusers.hooks import apply_group_offloading

    check_choice(offload_type, "offload_type", OFFLOAD_TYPES)
    if num_blocks_per_group is None:
        num_blocks_per_group = 1
    check_int(num_blocks_per_group, "num_blocks_per_group", minimum=1)
    excluded = [exclude_modules] if isinstance(exclude_modules, str) else list(exclude_modules or [])
    modules = {name: module for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)}
    unknown = sorted(set(excluded) - set(modules))
    if unknown:
        raise ValueError(
            f"exclude_modules: {unknown} are not components of this pipeline; its modules are {sorted(modules)}"
        )
    common = dict(
        onload_device=torch.device(onload_device),
        offload_device=torch.device(offload_device),
        non_blocking=non_blocking,
        use_stream=use_stream,
        record_stream=record_stream,
        low_cpu_mem_usage=low_cpu_mem_usage,
        offload_to_disk_path=offload_to_disk_path,
    )
    leaf = dict(common, offload_type="leaf_level")
    others = {id(module): name for name, module in modules.items()}
    for name, module in modules.items():
        if name in excluded:
            module.to(onload_device)
        elif name == "transformer":
            blocks = {"num_blocks_per_group": num_blocks_per_group} if offload_type == "block_level" else {}
            apply_group_offloading(module, **common, offload_type=offload_type, **blocks)
        else:
            _offload_own_parts(module, others, leaf, apply_group_offloading, onload_device)


def _offload_own_parts(
    module: torch.nn.Module, components: dict[int, str], options: dict, apply, onload_device
) -> None:
    """Leaf-level offloading of ``module``, leaving out the submodules that are other components (a
    hybrid encoder holds the pipeline's DINOv2 and VLM, offloaded as components of their own)."""
    inner = [m for m in module.modules() if m is not module and id(m) in components]
    if not inner:
        apply(module, **options)
        return
    for child in module.children():
        if id(child) in components:
            continue
        if any(id(m) in components for m in child.modules()):
            _offload_own_parts(child, components, options, apply, onload_device)
        else:
            apply(child, **options)
    for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
        tensor.data = tensor.data.to(onload_device)
