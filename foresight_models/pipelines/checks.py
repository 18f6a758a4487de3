"""Argument checks of :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline` that need
no pipeline: its set of components (at construction and again at call time) and the video arguments of
a call. Each raises at the first invalid argument, naming it, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._validation import check_choice, check_int, check_real
from ..conditioning import LTXConditioningAdapter
from ..models.adapters import BottleneckAdapter, PerceiverAdapter, QueryAdapter
from ..models.fusion import HybridEncoder
from ..models.lora_adapter import LoRAAdapter
from .frames import OUTPUT_TYPES

__all__ = ["ADAPTERS", "check_component_set", "check_components", "check_video_arguments"]

#: The adapter classes the pipeline takes.
ADAPTERS = (QueryAdapter, BottleneckAdapter, PerceiverAdapter)


def check_components(components: dict[str, Any], *, when: str = "") -> None:
    """The constructor's checks, run again by ``check_inputs`` (``when`` prefixes the message): enough
    components to run, and each of a class the pipeline can use."""
    try:
        check_component_set(components)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{when}{error}") from None


def check_component_set(components: dict[str, Any]) -> None:
    get = components.get
    missing = [name for name in ("transformer", "vae", "scheduler") if get(name) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)}: required, got None")
    if get("text_encoder") is None and get("adapter") is None:
        raise ValueError(
            "ForesightPipeline needs prompt embeddings for LTX-Video: pass text_encoder (+ tokenizer), "
            "or an adapter whose tokens become the prompt embeddings; got neither"
        )
    if get("text_encoder") is not None and get("tokenizer") is None:
        raise ValueError("tokenizer is required with text_encoder, got tokenizer=None")
    if get("vlm") is not None and get("processor") is None:
        raise ValueError("processor is required with vlm, got processor=None")
    if get("conditioning") is not None and get("adapter") is None:
        raise ValueError("conditioning needs an adapter to produce its tokens, got adapter=None")
    if isinstance(get("adapter"), LoRAAdapter):
        raise TypeError(
            "adapter: LoRAAdapter reads the VLM's input embeddings through its own LoRA-wrapped VLM, not "
            "context tokens, and is not supported as the pipeline's adapter; use a QueryAdapter, "
            "BottleneckAdapter or PerceiverAdapter"
        )
    for name, classes in (("adapter", ADAPTERS), ("hybrid_encoder", (HybridEncoder,)),
                          ("conditioning", (LTXConditioningAdapter,))):  # fmt: skip
        if get(name) is not None and not isinstance(get(name), classes):
            allowed = " or ".join(cls.__name__ for cls in classes)
            raise TypeError(f"{name}: expected a {allowed} or None, got {type(get(name)).__name__}")
    if get("adapter") is not None and get("vlm") is None and get("hybrid_encoder") is None:
        raise ValueError(
            "adapter needs context tokens to read: add a vlm (its last hidden states) or a spatial_encoder + "
            "hybrid_encoder (the fused tokens); got neither"
        )


def check_video_arguments(call: dict[str, Any], *, callback_tensor_inputs: Sequence[str]) -> None:
    for name in ("height", "width"):
        if check_int(call[name], name, minimum=32) % 32:
            raise ValueError(f"{name}: LTX-Video needs a positive multiple of 32, got {call[name]!r}")
    if check_int(call["num_frames"], "num_frames") % 8 != 1:
        raise ValueError(f"num_frames: LTX-Video needs 8k + 1 frames (9, 17, ..., 121, ...), got {call['num_frames']!r}")
    for name in ("num_continuations", "num_inference_steps", "max_sequence_length"):
        check_int(call[name], name)
    check_choice(call["output_type"], "output_type", OUTPUT_TYPES)
    check_real(call["guidance_scale"], "guidance_scale")
    check_real(call["frame_rate"], "frame_rate", minimum=0, min_inclusive=False)
    check_real(call["decode_timestep"], "decode_timestep", minimum=0, maximum=1)
    if call["decode_noise_scale"] is not None:
        check_real(call["decode_noise_scale"], "decode_noise_scale", minimum=0, maximum=1)
    if call["callback_on_step_end"] is not None and not callable(call["callback_on_step_end"]):
        raise TypeError(f"callback_on_step_end: expected a callable or None, got {call['callback_on_step_end']!r}")
    inputs = call["callback_on_step_end_tensor_inputs"]
    if isinstance(inputs, str) or not all(name in callback_tensor_inputs for name in inputs):
        raise ValueError(
            f"callback_on_step_end_tensor_inputs: expected names among {list(callback_tensor_inputs)}, got {inputs!r}"
        )
