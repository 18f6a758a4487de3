"""The opt-in fast path of :class:`~foresight_models.pipelines.ForesightPipeline`.

``pipe.enable_fast_path()`` switches on, piece by piece, what makes the stock stack faster on a GPU;
``pipe.disable_fast_path()`` undoes every piece; ``pipe.fast_path`` says which pieces are active
(``"active"``) and why the others are not. A piece that cannot work where the pipeline is (no CUDA
device, a backend that is not installed, a diffusers version that lacks it) is a no-op whose reason is
logged (logger ``foresight_models.pipelines.fast_path``, level INFO); the switch never fails for that.

The pieces (:data:`PIECES`):

- ``vlm_static_cache``: the VLM's ``generate`` keeps its key/value cache in fixed-size tensors
  (transformers' ``cache_implementation="static"``) of ``vlm_cache_length`` positions (default 4096,
  or the answer's length when it is longer), so the motion prompt and the descriptions share one
  cache shape; works on every device.
- ``vlm_compile``: with the static cache on a CUDA device, transformers compiles the VLM's decode step
  (``torch.compile``, by default ``mode="reduce-overhead"``: CUDA graphs), so a decode step stops being
  bound by kernel launches. The first answer of each new shape compiles.
- ``transformer_compile``: regional compilation of the LTX transformer: each repeated
  ``LTXVideoTransformerBlock`` is compiled (``compile_repeated_blocks``), which compiles one block's
  code once instead of the whole model.
- ``attention_backend``: diffusers' attention backend of the LTX transformer
  (``set_attention_backend``), when one is named and usable here.
- ``fuse_qkv``: fused query/key/value projections (diffusers' ``fuse_qkv_projections``), only where the
  transformer's attention processors read the fused weights. diffusers 0.42.1's
  ``LTXVideoAttnProcessor`` always computes ``to_q``, ``to_k`` and ``to_v`` separately, so for LTX-Video
  this piece stays off there (fusing would only add memory) and says so.
- ``vlm_device_inputs``: the VLM's images and video frames are preprocessed (resized, normalized,
  cut into patches) by the processor on the VLM's CUDA device, and predicted frames reach it as
  uint8 tensors rather than PIL images (the same pixels: the same rounding to 8 bits as the PIL
  conversion). On the CPU the processor's work for eight 512x704 frames is a few tenths of a second,
  about as long as the whole description's decoding; on the device it is milliseconds. The resize
  kernels differ between CPU and GPU, so pixel values can move by a rounding step.
- ``fp8`` (opt-in, ``fp8=True``): torchao float8 (dynamic row-wise scales for activations and weights)
  in the linear layers of the LTX transformer's blocks, on a CUDA device of compute capability 8.9 or
  newer (Ada, Hopper) with torchao installed. The bf16 weights wait on the CPU, and
  ``disable_fast_path()`` puts them back. Frames move a little (benchmarks/RESULTS.md gives the PSNR).
- ``batched_answers``: with several continuations, the VLM describes (and rates) all clips in one
  ``generate`` call, rows left-padded; greedy answers are the same as one call per clip. The
  descriptions and ratings are then not streamed token by token (no ``TextDelta`` events for them);
  ``Description`` events still come, one per clip.

Nothing here changes what the default path computes: until ``enable_fast_path()`` is called the
pipeline runs exactly diffusers' and transformers' stock code.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from .._validation import check_bool, check_int

__all__ = [
    "ACTIVE",
    "PIECES",
    "FastPath",
    "answer_batched",
    "describe_and_rate_batched",
    "float8_linear_layers",
    "float8_transformer_blocks",
]

logger = logging.getLogger(__name__)

#: The status of a piece that is switched on; any other status is the reason it is off.
ACTIVE = "active"

#: The pieces of the fast path, in the order they are applied.
PIECES = (
    "vlm_static_cache",
    "vlm_compile",
    "vlm_device_inputs",
    "fuse_qkv",
    "attention_backend",
    "fp8",
    "transformer_compile",
    "batched_answers",
)


class FastPath:
    """The pieces switched on for one pipeline, their status, and how to undo them.

    Built by :meth:`enable` (``ForesightPipeline.enable_fast_path`` calls it); :meth:`disable` restores
    the components as they were.
    """

    def __init__(self) -> None:
        #: piece -> ``"active"`` or the reason it is off (every name of :data:`PIECES`).
        self.status: dict[str, str] = {}
        self._undo: list[Callable[[], None]] = []

    @property
    def batched_answers(self) -> bool:
        return self.status.get("batched_answers") == ACTIVE

    @property
    def vlm_device_inputs(self) -> bool:
        return self.status.get("vlm_device_inputs") == ACTIVE

    @classmethod
    def enable(
        cls,
        pipe: Any,
        *,
        compile: bool | str = True,
        static_cache: bool = True,
        fuse_qkv: bool = True,
        attention_backend: str | None = None,
        batched_answers: bool = True,
        device_inputs: bool = True,
        fp8: bool = False,
        fullgraph: bool = True,
        vlm_compile_mode: str = "reduce-overhead",
        vlm_cache_length: int | None = 4096,
    ) -> FastPath:
        """Switch on the requested pieces on ``pipe``'s components (see the module docstring)."""
        if compile not in (True, False, "vlm", "transformer") or not isinstance(compile, (bool, str)):
            raise ValueError(f"compile: expected True, False, 'vlm' or 'transformer', got {compile!r}")
        for name, value in (
            ("static_cache", static_cache),
            ("fuse_qkv", fuse_qkv),
            ("batched_answers", batched_answers),
            ("device_inputs", device_inputs),
            ("fp8", fp8),
            ("fullgraph", fullgraph),
        ):
            check_bool(value, name)
        if attention_backend is not None and not isinstance(attention_backend, str):
            raise TypeError(f"attention_backend: expected a str or None, got {type(attention_backend).__name__}")
        if vlm_cache_length is not None:
            check_int(vlm_cache_length, "vlm_cache_length")
        if not isinstance(vlm_compile_mode, str):
            raise TypeError(f"vlm_compile_mode: expected a str, got {type(vlm_compile_mode).__name__}")
        fast = cls()
        try:
            fast._vlm(
                pipe.vlm,
                static_cache=static_cache,
                compile=compile in (True, "vlm"),
                mode=vlm_compile_mode,
                cache_length=vlm_cache_length,
            )
            fast._vlm_device_inputs(pipe.vlm, device_inputs)
            fast._fuse_qkv(pipe.transformer, fuse_qkv)
            fast._attention_backend(pipe.transformer, attention_backend)
            fast._fp8(pipe.transformer, fp8)
            fast._compile_transformer(pipe.transformer, compile=compile in (True, "transformer"), fullgraph=fullgraph)
            if not batched_answers:
                fast._set("batched_answers", "off: batched_answers=False")
            elif pipe.vlm is None:
                fast._set("batched_answers", "off: the pipeline has no vlm")
            else:
                fast._set("batched_answers", ACTIVE)
        except BaseException:
            fast.disable()
            raise
        return fast

    def disable(self) -> None:
        """Undo every piece, last applied first."""
        while self._undo:
            self._undo.pop()()
        self.status = {}

    # ------------------------------------------------------------------------------------------------

    def _set(self, piece: str, status: str) -> None:
        self.status[piece] = status
        if status == ACTIVE:
            logger.info("fast path: %s is active", piece)
        else:
            logger.info("fast path: %s is %s", piece, status)

    def _vlm(self, vlm: Any, *, static_cache: bool, compile: bool, mode: str, cache_length: int | None) -> None:
        if vlm is None:
            for piece in ("vlm_static_cache", "vlm_compile"):
                self._set(piece, "off: the pipeline has no vlm")
            return
        config = vlm.generation_config
        saved = {
            name: getattr(config, name, None)
            for name in ("cache_implementation", "compile_config", "disable_compile", "max_cache_len")
        }

        def restore() -> None:
            for name, value in saved.items():
                setattr(config, name, value)

        self._undo.append(restore)
        if not static_cache:
            self._set("vlm_static_cache", "off: static_cache=False")
            self._set(
                "vlm_compile",
                "off: needs static_cache=True (transformers compiles the decode step only with a static cache)",
            )
            return
        config.cache_implementation = "static"
        # one cache length for every answer (prompt, descriptions): one compiled decode step, not one per length
        config.max_cache_len = cache_length
        self._set("vlm_static_cache", ACTIVE)
        device = vlm.device
        if not compile:
            config.disable_compile = True
            self._set("vlm_compile", "off: not requested (compile)")
        elif device.type != "cuda":
            config.disable_compile = True
            self._set(
                "vlm_compile",
                f"off: the vlm is on {device}, and transformers compiles the decode step on a CUDA device only",
            )
        else:
            from transformers import CompileConfig

            config.disable_compile = False
            config.compile_config = CompileConfig(fullgraph=False, mode=mode)
            self._set("vlm_compile", ACTIVE)

    def _vlm_device_inputs(self, vlm: Any, requested: bool) -> None:
        if not requested:
            self._set("vlm_device_inputs", "off: device_inputs=False")
        elif vlm is None:
            self._set("vlm_device_inputs", "off: the pipeline has no vlm")
        elif vlm.device.type != "cuda":
            self._set(
                "vlm_device_inputs",
                f"off: the vlm is on {vlm.device}, where the processor already runs",
            )
        else:
            self._set("vlm_device_inputs", ACTIVE)

    def _fp8(self, transformer: Any, requested: bool) -> None:
        if not requested:
            self._set("fp8", "off: not requested (fp8=False)")
            return
        device = transformer.device
        if device.type != "cuda":
            self._set("fp8", f"off: the transformer is on {device}; float8 matrix products need a CUDA device")
            return
        import torch

        capability = torch.cuda.get_device_capability(device)
        if capability < (8, 9):
            self._set("fp8", f"off: float8 matrix products need compute capability 8.9 or newer, not {capability}")
            return
        try:
            restore = float8_transformer_blocks(transformer)
        except ImportError as error:
            self._set("fp8", f"off: torchao is not installed ({error})")
            return
        self._undo.append(restore)
        self._set("fp8", ACTIVE)

    def _fuse_qkv(self, transformer: Any, requested: bool) -> None:
        if not requested:
            self._set("fuse_qkv", "off: fuse_qkv=False")
            return
        if not hasattr(transformer, "fuse_qkv_projections"):
            self._set(
                "fuse_qkv", f"off: {type(transformer).__name__} has no fuse_qkv_projections in this diffusers version"
            )
            return
        ignoring = sorted(
            {type(p).__name__ for p in transformer.attn_processors.values() if not _reads_fused_projections(p)}
        )
        if ignoring:
            self._set(
                "fuse_qkv",
                f"off: the attention processors {', '.join(ignoring)} compute to_q, to_k, to_v separately and never "
                "read fused projections, so fusing would only add memory",
            )
            return
        transformer.fuse_qkv_projections()
        self._undo.append(transformer.unfuse_qkv_projections)
        self._set("fuse_qkv", ACTIVE)

    def _attention_backend(self, transformer: Any, backend: str | None) -> None:
        if backend is None:
            self._set(
                "attention_backend",
                "off: attention_backend=None (PyTorch's scaled_dot_product_attention picks its kernel)",
            )
            return
        if not hasattr(transformer, "set_attention_backend"):
            self._set("attention_backend", "off: this diffusers version has no set_attention_backend")
            return
        if "hub" in backend:
            self._set("attention_backend", f"off: {backend!r} downloads its kernel from the Hugging Face Hub")
            return
        device = transformer.device
        if device.type != "cuda":
            self._set(
                "attention_backend",
                f"off: the transformer is on {device}; attention backends are selected on CUDA only",
            )
            return
        try:
            transformer.set_attention_backend(backend)
        except (ImportError, RuntimeError, ValueError) as error:
            self._set("attention_backend", f"off: {backend!r} is not usable here: {error}")
            return
        self._undo.append(lambda: transformer.set_attention_backend("native"))
        self._set("attention_backend", ACTIVE)

    def _compile_transformer(self, transformer: Any, *, compile: bool, fullgraph: bool) -> None:
        if not compile:
            self._set("transformer_compile", "off: not requested (compile)")
            return
        device = transformer.device
        if device.type != "cuda":
            self._set(
                "transformer_compile", f"off: the transformer is on {device}; it is compiled on a CUDA device only"
            )
            return
        blocks = set(getattr(transformer, "_repeated_blocks", None) or ())
        if blocks and hasattr(transformer, "compile_repeated_blocks"):
            transformer.compile_repeated_blocks(fullgraph=fullgraph)
            compiled = [m for m in transformer.modules() if type(m).__name__ in blocks]
        else:  # an older diffusers: compile each block of the transformer's block list
            compiled = list(transformer.transformer_blocks)
            for block in compiled:
                block.compile(fullgraph=fullgraph)

        def uncompile() -> None:
            for block in compiled:
                # nn.Module.compile stores the compiled call here; clearing it runs the eager forward again
                block._compiled_call_impl = None

        self._undo.append(uncompile)
        self._set("transformer_compile", ACTIVE)


def float8_transformer_blocks(transformer: Any) -> Callable[[], None]:
    """torchao float8 in the linear layers of ``transformer.transformer_blocks`` (dynamic row-wise scales
    for activations and weights, ``Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())``);
    the bf16 weights move to the CPU. Returns the function that puts them back.

    Raises:
        ImportError: torchao is not installed.
    """
    import torch

    names = [
        name
        for name, module in transformer.named_modules()
        if isinstance(module, torch.nn.Linear) and name.startswith("transformer_blocks.")
    ]
    return float8_linear_layers(transformer, names)


def float8_linear_layers(model: Any, names: list[str], config: Any = None) -> Callable[[], None]:
    """torchao float8 in the linear layers of ``model`` named ``names`` (``config``: a torchao
    quantization config, by default ``Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())``);
    the original weights move to the CPU. Returns the function that puts them back.

    Raises:
        ImportError: torchao is not installed.
    """
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    modules = dict(model.named_modules())
    linears = {name: modules[name] for name in names}
    originals = {name: module.weight for name, module in linears.items()}
    if config is None:
        config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    quantize_(model, config, filter_fn=lambda module, name: name in linears)
    for weight in originals.values():
        weight.data = weight.data.to("cpu")

    def restore() -> None:
        for name, module in linears.items():
            weight = originals[name]
            weight.data = weight.data.to(module.weight.device)
            module.weight = weight
            module.__dict__.pop("extra_repr", None)  # torchao's per-instance repr of the float8 weight

    return restore


def _reads_fused_projections(processor: Any) -> bool:
    """Whether an attention processor's ``__call__`` uses fused projections when they exist."""
    try:
        source = inspect.getsource(type(processor).__call__)
    except (OSError, TypeError):
        return False
    return "fused_projections" in source or "to_qkv" in source


def describe_and_rate_batched(
    pipe: Any, clips: list[list], context: list, question: str, *, rate: bool, max_new_tokens: int
) -> tuple[list[str], list[str] | None, list[float] | None]:
    """The VLM's description of each clip (and, with ``rate``, its rating), all clips in one ``generate``
    call per question; the same values as one call per clip (greedy decoding), without ``TextDelta`` events.

    Args:
        clips: per clip, its sampled frames (PIL images, or a uint8 ``(t, c, h, w)`` tensor on the VLM's
            device with ``vlm_device_inputs``).
        context: the context images (the rating shows the last one beside each clip).

    Returns:
        ``(descriptions, ratings, scores)``; ratings and scores are ``None`` without ``rate``.
    """
    from .critic import RATING_PROMPT, parse_rating
    from .events import Description
    from .streaming import emit

    content = [{"type": "video"}, {"type": "text", "text": question}]
    descriptions = answer_batched(
        pipe, [content] * len(clips), images=None, videos=[[frames] for frames in clips], max_new_tokens=max_new_tokens
    )
    ratings = scores = None
    if rate:
        content = [{"type": "image"}, {"type": "video"}, {"type": "text", "text": RATING_PROMPT}]
        ratings = answer_batched(
            pipe,
            [content] * len(clips),
            images=[context[-1:] for _ in clips],
            videos=[[frames] for frames in clips],
            max_new_tokens=max_new_tokens,
        )
        scores = [parse_rating(answer) for answer in ratings]
    for index, text in enumerate(descriptions):
        emit(Description(text=text, index=index, score=None if scores is None else scores[index]))
    return descriptions, ratings, scores


def answer_batched(pipe: Any, contents: list[list[dict]], *, images, videos, max_new_tokens: int) -> list[str]:
    """Greedy VLM answers to several user turns in one ``generate`` call, rows left-padded.

    Args:
        contents: one chat ``content`` list per row.
        images, videos: per row, the list of images / videos its content refers to, or ``None`` for none.

    Returns:
        One answer per row, as a ``generate`` call on that row alone gives it.
    """
    from .locks import lock_for

    processor, vlm = pipe.processor, pipe.vlm
    texts = [
        processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        for content in contents
    ]
    flat_images = [image for row in images for image in row] if images is not None else None
    flat_videos = [video for row in videos for video in row] if videos is not None else None
    with lock_for(vlm):  # the processor's tokenizer and the VLM's generation state are shared
        inputs = processor(
            text=texts,
            images=flat_images,
            videos=flat_videos,
            padding=True,
            padding_side="left",
            return_tensors="pt",
            **pipe._vlm_processor_options(),
        )
        inputs = inputs.to(device=pipe._execution_device, dtype=vlm.dtype)
        ids = vlm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new_tokens = ids[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in processor.batch_decode(new_tokens, skip_special_tokens=True)]
