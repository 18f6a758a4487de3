"""``ForesightPipeline``: LTX-Video predicts what happens next as a video, Qwen2.5-VL describes it.

The research behind it (``DESIGN.md``): a VLM cannot predict the future in its own latent space
(every prediction head lost to copying the last frame), but LTX-Video image-to-video continues a
scene (temporal ratio 0.89 vs 0.37 for simple extrapolation) and Qwen2.5-VL recognises the action in
the generated clip almost as well as in real video (action recall 70% vs 75%).

One call runs three stages:

1. context: one or several images (the last one is the frame the video continues); without a
   ``prompt`` the VLM writes the motion prompt from the context images;
2. video: diffusers' ``LTXImageToVideoPipeline``, built from this pipeline's own component objects,
   denoises ``num_continuations`` futures in one batch; with an ``adapter`` the context is also
   injected through :func:`foresight_models.conditioning.ltx_conditioning` while it runs;
3. description: the VLM answers ``question`` about each predicted clip and, with several
   continuations, rates each one (:data:`foresight_models.pipelines.critic.RATING_PROMPT`); the outputs come
   back sorted best first.
"""

from __future__ import annotations

import inspect
import math
import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, LTXImageToVideoPipeline
from diffusers.utils import BaseOutput
from transformers import TextStreamer

# Importing our component modules puts them in ``sys.modules``, where diffusers resolves the module
# paths that ``model_index.json`` records for them (``foresight_models/_diffusers_registry.py``, set up
# by ``import foresight_models``, makes the ``ForesightPipeline`` name itself reachable).
from .. import conditioning as _conditioning
from .._validation import check_int
from ..inputs import to_frames, to_pil_images
from ..models import adapters as _adapters  # noqa: F401
from ..models import fusion as _fusion  # noqa: F401
from ..models.lora_adapter import LoRAAdapter
from .critic import RATING_PROMPT, parse_rating, rank_best_first
from .events import Description, Done, ForesightEvent, Frames, Progress, TextDelta

__all__ = [
    "DEFAULT_QUESTION",
    "MOTION_PROMPT_INSTRUCTION",
    "ForesightPipeline",
    "ForesightPipelineOutput",
]

DEFAULT_QUESTION = "What happens next?"

#: What the VLM is asked about the context images when no ``prompt`` is given; its answer is the
#: motion prompt of the video model.
MOTION_PROMPT_INSTRUCTION = (
    "These images show a scene; the last one is the current moment. In one or two sentences, describe "
    "the scene and the motion that happens next, as a prompt for a video generation model."
)

_OUTPUT_TYPES = ("pil", "np", "pt", "latent")


@dataclass
class ForesightPipelineOutput(BaseOutput):
    """Result of :class:`ForesightPipeline`; every per-continuation list is sorted best first.

    Args:
        frames: the predicted clips, one per continuation: ``output_type="pil"`` -> a list of lists of
            ``t`` PIL images; ``"np"`` -> float array ``(n, t, h, w, c)`` in [0, 1]; ``"pt"`` -> float
            tensor ``(n, t, c, h, w)`` in [0, 1]; ``"latent"`` -> the packed latents
            ``(n, tokens, channels)`` of ``LTXImageToVideoPipeline``.
        description: the VLM's answer to ``question`` for each clip (``None`` without a VLM or with
            ``output_type="latent"``).
        prompt: the motion prompt the video was generated from (given, or written by the VLM).
        scores: the critic's plausibility score of each clip on ``[0, 10]`` (``nan`` when its answer held
            no number in range), or ``None`` when the clips were not rated.
        seed: the seed of the generator the noise was drawn from (reproduces the call when passed back
            as ``seed=``).
        ratings: the critic's raw answers, aligned with ``scores``.
        order: for each returned clip, its index in generation order.
    """

    frames: Any
    description: list[str] | None
    prompt: str
    scores: list[float] | None
    seed: int
    ratings: list[str] | None = None
    order: list[int] | None = None


class _Cancelled(Exception):
    """Raised inside a stream's worker when its consumer has gone away."""


class _TextDeltaStreamer(TextStreamer):
    """A ``transformers`` streamer that hands each finalized piece of generated text to ``emit`` as a ``TextDelta``."""

    def __init__(self, tokenizer, *, emit: Callable[[ForesightEvent], None], stage: str, index: int | None):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._emit, self._stage, self._index = emit, stage, index

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._emit(TextDelta(text=text, stage=self._stage, index=self._index))


class ForesightPipeline(DiffusionPipeline):
    r"""Visual foresight: predict a scene's future as a video (LTX-Video) and describe it (Qwen2.5-VL).

    Components:
        transformer (``LTXVideoTransformer3DModel``), vae (``AutoencoderKLLTXVideo``), scheduler
        (``FlowMatchEulerDiscreteScheduler``): the LTX-Video image-to-video model.
        text_encoder (``T5EncoderModel``) + tokenizer (``T5Tokenizer[Fast]``), optional: LTX's prompt
        encoder. Without it the adapter's tokens are the prompt embeddings.
        vlm (``Qwen2_5_VLForConditionalGeneration``) + processor (``Qwen2_5_VLProcessor``), optional:
        writes the motion prompt, describes and rates the clips.
        spatial_encoder, fusion, optional: a hybrid encoder of the context images whose fused tokens
        feed the adapter (otherwise the VLM's last hidden states do).
        adapter, optional: a :mod:`foresight_models.models.adapters` module mapping context tokens
        ``(b, n, d_in)`` to conditioning tokens ``(b, k, caption_channels)``.
        conditioning (``LTXConditioningAdapter``), optional: per-block key/value projections; with it
        the adapter tokens enter by decoupled cross-attention, without it they join the prompt.

    Raises:
        ValueError: with neither a text encoder nor an adapter (LTX would have no prompt embeddings),
            with a text encoder but no tokenizer, a VLM without its processor, a conditioning without an
            adapter, or an adapter with nothing to read (neither a VLM nor a fusion).
    """

    model_cpu_offload_seq = "vlm->spatial_encoder->fusion->adapter->text_encoder->transformer->vae"
    _optional_components = [
        "text_encoder",
        "tokenizer",
        "vlm",
        "processor",
        "spatial_encoder",
        "fusion",
        "adapter",
        "conditioning",
    ]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        transformer,
        vae,
        scheduler,
        text_encoder=None,
        tokenizer=None,
        vlm=None,
        processor=None,
        spatial_encoder=None,
        fusion=None,
        adapter=None,
        conditioning=None,
    ):
        super().__init__()
        if text_encoder is None and adapter is None:
            raise ValueError(
                "ForesightPipeline needs prompt embeddings for LTX-Video: pass text_encoder (+ tokenizer), "
                "or an adapter whose tokens become the prompt embeddings; got neither"
            )
        if text_encoder is not None and tokenizer is None:
            raise ValueError("tokenizer is required with text_encoder, got tokenizer=None")
        if vlm is not None and processor is None:
            raise ValueError("processor is required with vlm, got processor=None")
        if conditioning is not None and adapter is None:
            raise ValueError("conditioning needs an adapter to produce its tokens, got adapter=None")
        if isinstance(adapter, LoRAAdapter):
            raise TypeError(
                "adapter: LoRAAdapter reads the VLM's input embeddings through its own LoRA-wrapped VLM, not "
                "context tokens, and is not supported as the pipeline's adapter; use a QueryAdapter, "
                "BottleneckAdapter or PerceiverAdapter"
            )
        if adapter is not None and vlm is None and fusion is None:
            raise ValueError(
                "adapter needs context tokens to read: add a vlm (its last hidden states) or a spatial_encoder + "
                "fusion (the fused tokens); got neither"
            )
        self.register_modules(
            transformer=transformer,
            vae=vae,
            scheduler=scheduler,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            vlm=vlm,
            processor=processor,
            spatial_encoder=spatial_encoder,
            fusion=fusion,
            adapter=adapter,
            conditioning=conditioning,
        )
        #: Hub ids of the upstream checkpoints the components come from (written to the model card).
        self.base_models: list[str] = []

    # ------------------------------------------------------------------------------------------------
    # assembly, saving
    # ------------------------------------------------------------------------------------------------

    @classmethod
    def from_components(
        cls,
        video_model: str | os.PathLike | DiffusionPipeline = "Lightricks/LTX-Video",
        vlm: str | os.PathLike | torch.nn.Module | None = "Qwen/Qwen2.5-VL-7B-Instruct",
        *,
        processor: Any = None,
        spatial_encoder: Any = None,
        fusion: Any = None,
        adapter: Any = None,
        conditioning: Any = None,
        text_encoder: bool = True,
        torch_dtype: torch.dtype | None = None,
        local_files_only: bool = False,
        **from_pretrained_kwargs: Any,
    ) -> ForesightPipeline:
        """Assemble a pipeline from the upstream checkpoints (Hub ids or local folders) or loaded modules.

        Args:
            video_model: an LTX-Video diffusers checkpoint (id or folder) or a loaded
                ``LTXImageToVideoPipeline`` / ``LTXPipeline``.
            vlm: a Qwen2.5-VL checkpoint (id or folder, its processor is loaded from the same place), a
                loaded ``Qwen2_5_VLForConditionalGeneration`` (then ``processor`` is required) or ``None``.
            processor: the VLM's processor when ``vlm`` is a module.
            spatial_encoder, fusion, adapter, conditioning: our optional components, as modules.
            text_encoder: keep LTX's T5 text encoder (``False`` drops it; an ``adapter`` is then required).
            torch_dtype: dtype of every loaded module.
            local_files_only: never touch the network.
            from_pretrained_kwargs: passed to every ``from_pretrained`` (``cache_dir``, ``revision``...).
        """
        base_models: list[str] = []
        load_kwargs = {"local_files_only": local_files_only, **from_pretrained_kwargs}
        if isinstance(video_model, DiffusionPipeline):
            ltx = video_model
        elif isinstance(video_model, (str, os.PathLike)):
            ltx = _load_or_explain(
                lambda: LTXImageToVideoPipeline.from_pretrained(video_model, torch_dtype=torch_dtype, **load_kwargs),
                video_model,
                "the LTX-Video checkpoint",
            )
            base_models += _hub_ids(video_model)
        else:
            raise TypeError(
                f"video_model: expected a Hub id, a folder or a loaded LTX pipeline, got {type(video_model).__name__}"
            )
        if isinstance(vlm, (str, os.PathLike)):
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

            vlm_id = vlm
            vlm = _load_or_explain(
                lambda: Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm_id, dtype=torch_dtype, **load_kwargs),
                vlm_id,
                "the Qwen2.5-VL checkpoint",
            )
            if processor is None:
                processor = _load_or_explain(
                    lambda: AutoProcessor.from_pretrained(vlm_id, **load_kwargs), vlm_id, "the Qwen2.5-VL processor"
                )
            base_models += _hub_ids(vlm_id)
        elif vlm is not None and not isinstance(vlm, torch.nn.Module):
            raise TypeError(f"vlm: expected a Hub id, a folder, a loaded model or None, got {type(vlm).__name__}")
        pipe = cls(
            transformer=ltx.transformer,
            vae=ltx.vae,
            scheduler=ltx.scheduler,
            text_encoder=ltx.text_encoder if text_encoder else None,
            tokenizer=ltx.tokenizer if text_encoder else None,
            vlm=vlm,
            processor=processor,
            spatial_encoder=spatial_encoder,
            fusion=fusion,
            adapter=adapter,
            conditioning=conditioning,
        )
        pipe.base_models = base_models
        return pipe

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> ForesightPipeline:
        """Load a saved pipeline (a folder or Hub id), as ``DiffusionPipeline.from_pretrained``.

        A saved ``fusion`` (a ``HybridEncoder``, whose folder holds only the fusion weights) is rebuilt on
        this pipeline's own ``spatial_encoder`` and ``vlm`` instead of loading its backbones again.
        """
        if "fusion" in kwargs:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        folder = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(folder):
            hub = ("cache_dir", "revision", "token", "local_files_only", "proxies")
            folder = cls.download(folder, **{k: kwargs[k] for k in hub if k in kwargs})
        if (cls.load_config(folder).get("fusion") or [None])[0] is None:
            return super().from_pretrained(folder, **kwargs)
        from ..models.fusion import HybridEncoder

        pipe = super().from_pretrained(folder, fusion=None, **kwargs)
        fusion = HybridEncoder.from_pretrained(
            os.path.join(folder, "fusion"),
            dino=pipe.spatial_encoder,
            vlm=pipe.vlm,
            torch_dtype=kwargs.get("torch_dtype"),
            local_files_only=kwargs.get("local_files_only"),
        )
        pipe.register_modules(fusion=fusion.to(pipe.transformer.device))
        return pipe

    def save_pretrained(
        self, save_directory: str | os.PathLike, *, base_models: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        """Write a standard diffusers folder (``model_index.json``, one safetensors subfolder per component)
        plus ``README.md``, a model card with Hub metadata.

        Args:
            base_models: Hub ids recorded as the card's ``base_model`` (default: :attr:`base_models`).
            kwargs: passed to ``DiffusionPipeline.save_pretrained`` (``safe_serialization`` stays True).
        """
        from .model_card import write_model_card

        if kwargs.get("safe_serialization", True) is not True:
            raise ValueError(
                f"safe_serialization: only safetensors (True) is supported, got {kwargs['safe_serialization']!r}"
            )
        super().save_pretrained(save_directory, **kwargs)
        components = {
            name: f"{type(module).__module__}.{type(module).__name__}"
            for name, module in self.components.items()
            if module is not None
        }
        write_model_card(
            save_directory,
            components=components,
            base_models=list(base_models if base_models is not None else self.base_models),
        )

    def enable_vae_tiling(self, **kwargs: Any) -> None:
        """Decode the video in overlapping tiles (``AutoencoderKLLTXVideo.enable_tiling`` arguments) to save memory."""
        self.vae.enable_tiling(**kwargs)

    def disable_vae_tiling(self) -> None:
        """Decode the video in one pass again."""
        self.vae.disable_tiling()

    # ------------------------------------------------------------------------------------------------
    # public calls
    # ------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        prompt: str | None = None,
        question: str = DEFAULT_QUESTION,
        *,
        height: int = 512,
        width: int = 704,
        num_frames: int = 121,
        frame_rate: int = 25,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.0,
        negative_prompt: str | None = None,
        num_continuations: int = 1,
        rate: bool | None = None,
        conditioning_frames: str | Sequence[int] = "first",
        conditioning_strength: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        output_type: str = "pil",
        decode_timestep: float = 0.05,
        decode_noise_scale: float | None = None,
        max_new_tokens: int = 128,
        max_description_frames: int = 8,
        max_sequence_length: int = 128,
        callback_on_step_end: Callable[..., dict] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
    ) -> ForesightPipelineOutput:
        r"""Predict what happens next after ``image`` and describe it.

        Args:
            image: the context: one image or a list of images (PIL of any mode, ``(h, w, c)`` arrays,
                ``(c, h, w)`` tensors, uint8 or float in [0, 1]); a ``(t, c, h, w)`` tensor is ``t`` images.
                The last image is the frame the video continues; the VLM sees all of them.
            prompt: the motion prompt; ``None`` lets the VLM write it from the context images.
            question: what the VLM is asked about each predicted clip.
            height, width: video size, multiples of 32.
            num_frames: frames of the video, ``8k + 1`` (the first is the context frame).
            frame_rate, num_inference_steps, guidance_scale, negative_prompt, decode_timestep, decode_noise_scale, max_sequence_length:
                as in diffusers' ``LTXImageToVideoPipeline``.
                Without a text encoder the adapter's tokens are the prompt embeddings and, under guidance
                (``guidance_scale > 1``), the unconditional branch gets zero embeddings of the same shape
                (the adapter's "no context"); ``negative_prompt`` then needs a text encoder and is refused.
            num_continuations: how many futures to generate in one batch (``>= 1``).
            rate: ask the VLM to score each clip (default: when ``num_continuations > 1``, there is a VLM
                and ``output_type`` is not ``"latent"``).
            conditioning_frames, conditioning_strength: latent frames that receive the adapter tokens
                (``"first"``, ``"all"`` or indices) and their strength (see :mod:`foresight_models.conditioning`);
                used only while adapter tokens are injected (an adapter with a text encoder or a
                ``conditioning`` component); other values are refused when nothing uses them.
            generator, seed: the noise source: one ``torch.Generator`` for the whole batch, or a fresh CPU
                generator seeded with ``seed`` (an int in ``[0, 2**64)``; random when ``None``).
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"`` (no description then).
            max_new_tokens: VLM tokens per answer (greedy decoding).
            max_description_frames: the VLM's frame budget per clip (frames evenly sampled, first and last kept).
            callback_on_step_end, callback_on_step_end_tensor_inputs: diffusers' step callback, called with
                the inner ``LTXImageToVideoPipeline`` as first argument.

        Returns:
            :class:`ForesightPipelineOutput`, continuations sorted best first.
        """
        return self._run(
            image=image,
            prompt=prompt,
            question=question,
            height=height,
            width=width,
            num_frames=num_frames,
            frame_rate=frame_rate,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            negative_prompt=negative_prompt,
            num_continuations=num_continuations,
            rate=rate,
            conditioning_frames=conditioning_frames,
            conditioning_strength=conditioning_strength,
            generator=generator,
            seed=seed,
            output_type=output_type,
            decode_timestep=decode_timestep,
            decode_noise_scale=decode_noise_scale,
            max_new_tokens=max_new_tokens,
            max_description_frames=max_description_frames,
            max_sequence_length=max_sequence_length,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
            emit=None,
        )

    def stream(self, image: Any, prompt: str | None = None, question: str = DEFAULT_QUESTION, **kwargs: Any):
        """Run ``__call__`` with the same arguments and yield its events as they happen.

        Yields :class:`~foresight_models.pipelines.events.TextDelta` (VLM text as it is produced: the
        motion prompt first, before any frame exists), :class:`Progress` (denoising steps),
        :class:`Frames`, :class:`Description`, and last :class:`Done` carrying the same
        :class:`ForesightPipelineOutput` that ``__call__`` returns. The work runs in a background
        thread; leaving the loop early (or closing the iterator) stops it at its next event and waits
        for it, so the pipeline is free again afterwards. Errors are re-raised here.

        The stages run one after the other, as in ``__call__``: the motion prompt conditions the video,
        so its text streams before the first denoising step, and the descriptions stream after the
        frames are decoded (see ``docs/pipeline.md``, "Streaming").
        """
        # ``__call__``'s signature is the single source of the arguments and their defaults.
        bound = inspect.signature(type(self).__call__).bind(self, image, prompt, question, **kwargs)
        bound.apply_defaults()
        arguments = {name: value for name, value in bound.arguments.items() if name != "self"}
        events: queue.Queue = queue.Queue()
        cancelled = threading.Event()
        failure: list[BaseException] = []

        def emit(event: ForesightEvent) -> None:
            if cancelled.is_set():
                raise _Cancelled
            events.put(event)

        def work() -> None:
            try:
                with torch.no_grad():
                    output = self._run(**arguments, emit=emit)
                events.put(Done(output))
            except _Cancelled:
                pass
            except BaseException as error:  # re-raised in the consumer
                failure.append(error)
                events.put(None)

        return self._drain(events, cancelled, failure, threading.Thread(target=work, daemon=True))

    @staticmethod
    def _drain(events: queue.Queue, cancelled: threading.Event, failure: list, worker: threading.Thread) -> Iterator:
        worker.start()
        try:
            while True:
                event = events.get()
                if event is None:
                    raise failure[0]
                yield event
                if isinstance(event, Done):
                    return
        finally:
            cancelled.set()  # a consumer that left early: the worker stops at its next token or denoising step
            worker.join()

    # ------------------------------------------------------------------------------------------------
    # the work
    # ------------------------------------------------------------------------------------------------

    def _run(self, **kwargs: Any) -> ForesightPipelineOutput:
        try:
            return self._predict(**kwargs)
        finally:
            self.maybe_free_model_hooks()  # with model CPU offload, every component goes back to the CPU

    def _predict(
        self,
        *,
        image: Any,
        prompt: str | None,
        question: str,
        emit: Callable[[ForesightEvent], None] | None,
        height: int,
        width: int,
        num_frames: int,
        frame_rate: int,
        num_inference_steps: int,
        guidance_scale: float,
        negative_prompt: str | None,
        num_continuations: int,
        rate: bool | None,
        conditioning_frames: str | Sequence[int],
        conditioning_strength: float,
        generator: torch.Generator | None,
        seed: int | None,
        output_type: str,
        decode_timestep: float,
        decode_noise_scale: float | None,
        max_new_tokens: int,
        max_description_frames: int,
        max_sequence_length: int,
        callback_on_step_end: Callable[..., dict] | None,
        callback_on_step_end_tensor_inputs: Sequence[str],
    ) -> ForesightPipelineOutput:
        context = _context_images(image)
        _check_call(
            height=height,
            width=width,
            num_frames=num_frames,
            num_inference_steps=num_inference_steps,
            num_continuations=num_continuations,
            output_type=output_type,
            max_new_tokens=max_new_tokens,
            max_description_frames=max_description_frames,
        )
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"prompt: expected a str or None, got {type(prompt).__name__}")
        if self.vlm is None and prompt is None:
            raise ValueError("prompt: required when the pipeline has no vlm to write it, got None")
        if self.vlm is not None and (not isinstance(question, str) or not question.strip()):
            raise ValueError(f"question: expected a non-empty str, got {question!r}")
        if rate is not None and not isinstance(rate, bool):
            raise TypeError(f"rate: expected True, False or None, got {rate!r}")
        if rate is None:
            rate = num_continuations > 1 and self.vlm is not None and output_type != "latent"
        if rate and self.vlm is None:
            raise ValueError("rate=True needs a vlm to act as critic, and this pipeline has none")
        if rate and output_type == "latent":
            raise ValueError("rate=True: the critic rates decoded clips, and output_type='latent' does not decode them")
        if (
            isinstance(guidance_scale, bool)
            or not isinstance(guidance_scale, (int, float))
            or not math.isfinite(guidance_scale)
        ):
            raise ValueError(
                f"guidance_scale: expected a finite number (<= 1 disables guidance), got {guidance_scale!r}"
            )
        if isinstance(frame_rate, bool) or not isinstance(frame_rate, (int, float)) or not 0 < frame_rate < math.inf:
            raise ValueError(f"frame_rate: expected a positive number of frames per second, got {frame_rate!r}")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise TypeError(f"negative_prompt: expected a str or None, got {type(negative_prompt).__name__}")
        if negative_prompt is not None and self.text_encoder is None:
            raise ValueError(
                f"negative_prompt: needs a text_encoder to encode it, and this pipeline has none; got {negative_prompt!r}"
            )
        _check_conditioning(
            mode=self._conditioning_mode(),
            frames=conditioning_frames,
            strength=conditioning_strength,
            num_latent_frames=(num_frames - 1) // self.vae.temporal_compression_ratio + 1,
        )
        if generator is None:
            if seed is None:
                seed = secrets.randbits(63)
            elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
                raise ValueError(f"seed: expected an int in [0, 2**64) or None, got {seed!r}")
            seed = int(seed)
            generator = torch.Generator().manual_seed(seed)
        elif not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator: expected one torch.Generator (it draws the noise of every continuation) or None, "
                f"got {type(generator).__name__}"
            )
        elif seed is not None:
            raise ValueError(f"pass either generator or seed, not both (got seed={seed!r} and a generator)")
        else:
            seed = generator.initial_seed()

        # 1. context -> motion prompt
        if prompt is None:
            content = [{"type": "image"} for _ in context] + [{"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]
            prompt = self._vlm_answer(content, images=context, max_new_tokens=max_new_tokens, emit=emit, stage="prompt")

        # 2. video
        latents_only = output_type == "latent"
        video = self._generate_video(
            context=context,
            prompt=prompt,
            negative_prompt=negative_prompt,
            height=height,
            width=width,
            num_frames=num_frames,
            frame_rate=frame_rate,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            num_continuations=num_continuations,
            conditioning_frames=conditioning_frames,
            conditioning_strength=conditioning_strength,
            generator=generator,
            output_type="latent" if latents_only else "pt",
            decode_timestep=decode_timestep,
            decode_noise_scale=decode_noise_scale,
            max_sequence_length=max_sequence_length,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=list(callback_on_step_end_tensor_inputs),
            emit=emit,
        )
        if latents_only:
            return ForesightPipelineOutput(
                frames=video, description=None, prompt=prompt, scores=None, seed=seed, order=list(range(len(video)))
            )
        clips = [_convert_frames(clip, output_type) for clip in video]  # video: (n, t, c, h, w) in [0, 1]
        if emit is not None:
            for index, clip in enumerate(clips):
                emit(Frames(frames=clip, index=index))

        # 3. description and rating of every continuation
        descriptions: list[str] | None = None
        ratings: list[str] | None = None
        scores: list[float] | None = None
        if self.vlm is not None:
            descriptions, ratings, scores = [], [], []
            for index, clip in enumerate(video):
                frames = to_pil_images(_sample_frames(clip, max_description_frames))
                content = [{"type": "video"}, {"type": "text", "text": question}]
                text = self._vlm_answer(
                    content, videos=[frames], max_new_tokens=max_new_tokens, emit=emit, stage="description", index=index
                )
                descriptions.append(text)
                score = None
                if rate:
                    content = [{"type": "image"}, {"type": "video"}, {"type": "text", "text": RATING_PROMPT}]
                    answer = self._vlm_answer(
                        content,
                        images=context[-1:],
                        videos=[frames],
                        max_new_tokens=max_new_tokens,
                        emit=emit,
                        stage="rating",
                        index=index,
                    )
                    score = parse_rating(answer)
                    ratings.append(answer)
                    scores.append(score)
                if emit is not None:
                    emit(Description(text=text, index=index, score=score))
            if not rate:
                ratings = scores = None

        order = rank_best_first(scores) if scores is not None else list(range(num_continuations))
        if output_type == "pt":
            frames_out: Any = torch.stack([clips[i] for i in order])
        elif output_type == "np":
            frames_out = np.stack([clips[i] for i in order])
        else:
            frames_out = [clips[i] for i in order]
        return ForesightPipelineOutput(
            frames=frames_out,
            description=[descriptions[i] for i in order] if descriptions is not None else None,
            prompt=prompt,
            scores=[scores[i] for i in order] if scores is not None else None,
            seed=seed,
            ratings=[ratings[i] for i in order] if ratings is not None else None,
            order=order,
        )

    def _generate_video(
        self,
        *,
        context: list[PIL.Image.Image],
        prompt: str,
        negative_prompt: str | None,
        num_continuations: int,
        conditioning_frames: Any,
        conditioning_strength: float,
        callback_on_step_end: Callable[..., dict] | None,
        callback_on_step_end_tensor_inputs: list[str],
        emit: Callable[[ForesightEvent], None] | None,
        **ltx_kwargs: Any,
    ) -> torch.Tensor:
        """LTX image-to-video through diffusers' own pipeline; ``(n, t, c, h, w)`` frames or packed latents."""
        ltx = LTXImageToVideoPipeline(
            transformer=self.transformer,
            vae=self.vae,
            scheduler=self.scheduler,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
        )
        ltx.set_progress_bar_config(**getattr(self, "_progress_bar_config", {}))
        total = ltx_kwargs["num_inference_steps"]

        def on_step_end(pipe, step: int, timestep, tensors: dict) -> dict:
            returned = callback_on_step_end(pipe, step, timestep, tensors) if callback_on_step_end else None
            if emit is not None:
                emit(Progress(step=step + 1, total=total))
            return returned if returned is not None else {}

        call = dict(
            image=context[-1],
            num_videos_per_prompt=num_continuations,
            callback_on_step_end=on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
            **ltx_kwargs,
        )
        adapter_output = self._adapter_tokens(context) if self.adapter is not None else None
        if self.text_encoder is not None:
            call.update(prompt=prompt, negative_prompt=negative_prompt)
        else:  # the adapter's tokens are the prompt embeddings; the unconditional branch gets zeros (documented)
            tokens = adapter_output.tokens.to(self.transformer.dtype)
            mask = adapter_output.mask
            call.update(
                prompt_embeds=tokens,
                prompt_attention_mask=mask.long(),
                negative_prompt_embeds=torch.zeros_like(tokens),
                negative_prompt_attention_mask=mask.long(),
            )
        mode = self._conditioning_mode()
        if mode is None:
            return ltx(**call).frames
        rows = adapter_output.tokens.expand(num_continuations, -1, -1)
        mask = adapter_output.mask.expand(num_continuations, -1)
        with _conditioning.ltx_conditioning(
            self.transformer,
            rows,
            self.conditioning,
            mask=mask,
            frames=conditioning_frames,
            strength=conditioning_strength,
            mode=mode,
        ):
            return ltx(**call).frames

    def _conditioning_mode(self) -> str | None:
        """How the adapter tokens are injected while LTX denoises (``ltx_conditioning``'s ``mode``), if at all.

        ``"cross_attention"`` with a ``conditioning`` component; ``"prompt"`` (appended to the T5 prompt)
        with an adapter and a text encoder; ``None`` without an adapter, or when the adapter's tokens
        already are the prompt embeddings (no text encoder, no conditioning).
        """
        if self.adapter is None:
            return None
        if self.conditioning is not None:
            return "cross_attention"
        return "prompt" if self.text_encoder is not None else None

    def _adapter_tokens(self, context: list[PIL.Image.Image]):
        """Context images -> ``AdapterOutput(tokens (1, k, caption_channels), mask (1, k))``.

        The adapter reads the hybrid encoder's fused tokens when ``spatial_encoder`` and ``fusion`` are
        present, else the VLM's last hidden states over the context images and the motion instruction.
        """
        device = self._execution_device
        if self.fusion is not None:
            clip = to_frames(context).to(device)  # 1 t c h w
            fused = self.fusion(clip).fused_tokens  # 1 t n d
            tokens, mask = fused.flatten(1, 2), None
        else:  # the constructor guarantees a vlm here
            content = [{"type": "image"} for _ in context] + [{"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]
            _onload(self.vlm)
            inputs = self._vlm_inputs(content, images=context)
            hidden = self.vlm(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
            tokens, mask = hidden, inputs["attention_mask"].bool()
        return self.adapter(tokens.to(self.adapter.dtype), mask)

    def _vlm_inputs(self, content: list[dict], *, images=None, videos=None):
        messages = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=images, videos=videos, return_tensors="pt")
        return inputs.to(device=self._execution_device, dtype=self.vlm.dtype)

    def _vlm_answer(
        self,
        content: list[dict],
        *,
        max_new_tokens: int,
        emit: Callable[[ForesightEvent], None] | None,
        stage: str,
        index: int | None = None,
        images=None,
        videos=None,
    ) -> str:
        """Greedy VLM answer to one user turn; streamed as ``TextDelta`` events when ``emit`` is set.

        The text is emitted from inside ``generate`` (no extra thread), so a cancelled stream stops the
        generation at its next token.
        """
        _onload(self.vlm)
        inputs = self._vlm_inputs(content, images=images, videos=videos)
        streamer = None
        if emit is not None:
            streamer = _TextDeltaStreamer(self.processor.tokenizer, emit=emit, stage=stage, index=index)
        ids = self.vlm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer)
        new_tokens = ids[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------


def _onload(module: torch.nn.Module) -> None:
    """Bring a component that model CPU offload keeps on the CPU to the execution device now.

    diffusers' offload hooks move a component when its ``forward`` runs, but ``generate`` calls the
    VLM's vision tower (``get_image_features``) before any ``forward`` of the whole model.
    """
    hook = getattr(module, "_hf_hook", None)
    if hook is not None:
        hook.pre_forward(module)


def _context_images(image: Any) -> list[PIL.Image.Image]:
    """The context as RGB PIL images (a ``(t, c, h, w)`` tensor / ``(t, h, w, c)`` array is ``t`` images)."""
    if image is None:
        raise ValueError("image: expected at least one image, got None")
    if isinstance(image, (list, tuple)):
        items = list(image)
    elif isinstance(image, (torch.Tensor, np.ndarray)) and image.ndim == 4:
        items = list(image)
    else:
        items = [image]
    if not items:
        raise ValueError(f"image: expected at least one image, got an empty {type(image).__name__}")
    images = []
    for i, item in enumerate(items):
        if isinstance(item, PIL.Image.Image):
            images.append(item.convert("RGB"))
            continue
        frames = to_frames(item, name=f"image[{i}]")
        if frames.shape[:2] != (1, 1):
            raise ValueError(f"image[{i}]: expected a single image, got shape {tuple(frames.shape)} as (b, t, c, h, w)")
        images.append(to_pil_images(frames[0])[0])
    return images


def _check_call(
    *,
    height: int,
    width: int,
    num_frames: int,
    num_inference_steps: int,
    num_continuations: int,
    output_type: str,
    max_new_tokens: int,
    max_description_frames: int,
) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
            raise ValueError(f"{name}: LTX-Video needs a positive multiple of 32, got {value!r}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1 or num_frames % 8 != 1:
        raise ValueError(f"num_frames: LTX-Video needs 8k + 1 frames (9, 17, ..., 121, ...), got {num_frames!r}")
    for name, value in (
        ("num_continuations", num_continuations),
        ("num_inference_steps", num_inference_steps),
        ("max_new_tokens", max_new_tokens),
        ("max_description_frames", max_description_frames),
    ):
        check_int(value, name)
    if output_type not in _OUTPUT_TYPES:
        raise ValueError(f"output_type: expected one of {_OUTPUT_TYPES}, got {output_type!r}")


def _check_conditioning(*, mode: str | None, frames: Any, strength: Any, num_latent_frames: int) -> None:
    """``conditioning_frames`` / ``conditioning_strength`` are valid, and left unset when no hook uses them."""
    if mode is None:
        frames_unset = isinstance(frames, str) and frames == "first"
        strength_unset = isinstance(strength, (int, float)) and strength == 1.0
        if not (frames_unset and strength_unset):
            raise ValueError(
                "conditioning_frames, conditioning_strength: only used to inject adapter tokens (an adapter with a "
                "text_encoder or a conditioning component), which this pipeline does not do; "
                f"got conditioning_frames={frames!r}, conditioning_strength={strength!r}"
            )
        return
    try:
        _conditioning.video_token_mask(frames, num_frames=num_latent_frames, height=1, width=1)
    except (TypeError, ValueError) as error:
        raise type(error)(f"conditioning_frames: {error}") from error
    try:
        _conditioning._normalize_strength(strength)
    except (TypeError, ValueError) as error:
        raise type(error)(f"conditioning_strength: {error}") from error


def _sample_frames(clip: torch.Tensor, budget: int) -> torch.Tensor:
    """At most ``budget`` evenly spaced frames of ``clip (t, c, h, w)``, first and last included."""
    t = clip.shape[0]
    if t <= budget:
        return clip
    indices = torch.linspace(0, t - 1, budget).round().long()
    return clip[indices]


def _convert_frames(clip: torch.Tensor, output_type: str) -> Any:
    """``(t, c, h, w)`` in [0, 1] -> PIL list, ``(t, h, w, c)`` array or the tensor itself (as diffusers does)."""
    if output_type == "pt":
        return clip
    if output_type == "np":
        return clip.permute(0, 2, 3, 1).float().cpu().numpy()
    return to_pil_images(clip)


def _hub_ids(name: str | os.PathLike) -> list[str]:
    """``[name]`` when it looks like a Hub id (``owner/name``, not a local folder), else ``[]``."""
    name = os.fspath(name)
    return [name] if name.count("/") == 1 and not os.path.exists(name) else []


def _load_or_explain(load: Callable[[], Any], name: Any, what: str) -> Any:
    name = os.fspath(name)
    if not os.path.isdir(name) and not _hub_ids(name):
        raise ValueError(f"{what}: {name!r} is neither an existing folder nor a Hub id of the form 'owner/name'")
    try:
        return load()
    except OSError as error:
        raise OSError(
            f"could not load {what} from {name!r}: download it first "
            f"(`hf download {name}`) or pass a local folder; original error: {error}"
        ) from error
