"""``ForesightPipeline``: LTX-Video predicts what happens next as a video, Qwen2.5-VL describes it.

Why this split of work is the design: ``docs/research.md``. One call runs five numbered stages,
written out in :meth:`ForesightPipeline.__call__`:

1. check inputs (:meth:`ForesightPipeline.check_inputs`, also callable on its own);
2. motion prompt: without a ``prompt`` the VLM writes it from the context images;
3. video: diffusers' ``LTXImageToVideoPipeline`` (or ``LTXConditionPipeline`` with
   ``context_conditioning="all"``), built from this pipeline's own component objects and a per-call
   copy of the scheduler, denoises ``num_continuations`` futures in one batch; its step callback
   hands the user's callback this pipeline (:mod:`.call_state`); with an ``adapter`` the context is
   also injected through :func:`foresight_models.conditioning.ltx_conditioning` while it runs;
4. describe and rate: the VLM answers ``question`` about each clip and, with several continuations,
   rates each one (:data:`foresight_models.pipelines.critic.RATING_PROMPT`);
5. rank: the outputs come back sorted best first.

One pipeline may be called from several threads at once. Every call has its own scheduler and
generator; what stays shared is serialised with a lock per module: the VLM (Qwen2.5-VL keeps the
rotary position offsets of the running generation on the model), prompt encoding (a fast
tokenizer's padding and truncation settings), the transformer while adapter tokens are injected
(the hooks are installed on it), and, with model CPU offload, whole calls (:mod:`.locks`). diffusers' per-call
properties (``num_timesteps``, ``interrupt``...) are kept per thread (:mod:`.call_state`).

LoRA weights load into the transformer through diffusers' ``LTXVideoLoraLoaderMixin``; ``push_to_hub``
uploads this library's model card (:mod:`.hub`).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import PIL.Image
import torch
from diffusers import DiffusionPipeline
from diffusers.loaders import LTXVideoLoraLoaderMixin

from .. import conditioning
from .._validation import check_bool, check_choice, check_int
from ..inputs import frames_to_uint8, to_frames, to_pil_images
from ..models.fusion import HybridEncoder
from . import hub, loading
from .call_state import CallStateMixin, StepEnd

# Importing .checks imports the modules of the adapter classes the pipeline takes. They must be
# imported before a saved pipeline is loaded: diffusers finds a component recorded as
# ["foresight_models.models.adapters", "QueryAdapter"] in ``sys.modules`` only (it never imports a
# module that a folder names).
from .checks import check_components, check_video_arguments
from .context_conditioning import CONTEXT_CONDITIONING, image_arguments, inner_pipeline
from .critic import RATING_PROMPT, parse_rating
from .events import Description, Frames, Progress
from .fast_path import describe_and_rate_batched
from .frames import context_images, convert_frames, sample_frames
from .locks import lock_for, locked
from .memory import available_memory, estimate_call_memory
from .noise import check_latents, noise_source
from .output import ForesightPipelineOutput, NonFiniteOutputError, check_finite, ranked_output
from .streaming import ForesightStream, emit, text_delta_streamer
from .upstream import load_video_model, load_vlm

# ForesightPipelineOutput and NonFiniteOutputError are defined in .output and importable from here too.
__all__ = [
    "DEFAULT_QUESTION",
    "MOTION_PROMPT_INSTRUCTION",
    "ForesightPipeline",
    "ForesightPipelineOutput",
    "NonFiniteOutputError",
]

DEFAULT_QUESTION = "What happens next?"

#: What the VLM is asked about the context images when no ``prompt`` is given; its answer is the
#: motion prompt of the video model.
MOTION_PROMPT_INSTRUCTION = (
    "These images show a scene; the last one is the current moment. In one or two sentences, describe "
    "the scene and the motion that happens next, as a prompt for a video generation model."
)

def vlm_question(kind: str, visuals: Any, question: str) -> tuple[list[dict], dict[str, list]]:
    """The chat content and the processor's media for ``question`` about ``visuals``: with
    ``kind="image"`` each of them (PIL images) is one image; with ``kind="video"`` they are one video
    (a list of frames or a ``(t, c, h, w)`` clip). The training task asks in the same form
    (:class:`~foresight_models.training.VLMTask`)."""
    if kind == "video":
        return [{"type": "video"}, {"type": "text", "text": question}], {"videos": [visuals]}
    return [{"type": "image"} for _ in visuals] + [{"type": "text", "text": question}], {"images": list(visuals)}


_LTX_COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer")


class ForesightPipeline(CallStateMixin, LTXVideoLoraLoaderMixin, DiffusionPipeline):
    r"""Visual foresight: predict a scene's future as a video (LTX-Video) and describe it (Qwen2.5-VL).

    Components:
        transformer (``LTXVideoTransformer3DModel``), vae (``AutoencoderKLLTXVideo``), scheduler
        (``FlowMatchEulerDiscreteScheduler``): the LTX-Video image-to-video model.
        text_encoder (``T5EncoderModel``) + tokenizer (``T5Tokenizer[Fast]``), optional: LTX's prompt
        encoder. Without it the adapter's tokens are the prompt embeddings.
        vlm (``Qwen2_5_VLForConditionalGeneration``) + processor (``Qwen2_5_VLProcessor``), optional:
        writes the motion prompt, describes and rates the clips.
        spatial_encoder, hybrid_encoder (``HybridEncoder``), optional: a hybrid encoder of the context
        images whose fused tokens feed the adapter (otherwise the VLM's last hidden states do).
        adapter, optional: a ``QueryAdapter``, ``BottleneckAdapter`` or ``PerceiverAdapter`` mapping
        context tokens ``(b, n, d_in)`` to conditioning tokens ``(b, k, caption_channels)``.
        conditioning (``LTXConditioningAdapter``), optional: per-block key/value projections; with it
        the adapter tokens enter by decoupled cross-attention, without it they join the prompt.

    Config (saved in ``model_index.json``, overridable in ``from_pretrained``):
        context_as_video: the VLM reads the context images as one video rather than as separate images
            when it writes the motion prompt (and when its hidden states feed the adapter). Qwen2.5-VL's
            temporal patches pair consecutive frames, so its vision tower sees the motion between two
            context images directly; a VLM fine-tuned on one of the two forms should be asked in that
            form. Default ``False`` (separate images, as the upstream checkpoints are usually prompted).

    Raises:
        ValueError: with neither a text encoder nor an adapter (LTX would have no prompt embeddings),
            with a text encoder but no tokenizer, a VLM without its processor, a conditioning without an
            adapter, an adapter with nothing to read (neither a VLM nor a hybrid encoder), or a component
            whose weights are incomplete (parameters left on the ``meta`` device by a missing key).
        TypeError: an adapter, hybrid encoder or conditioning of another class.
    """

    model_cpu_offload_seq = "vlm->spatial_encoder->hybrid_encoder->adapter->text_encoder->transformer->vae"
    _optional_components = [
        "text_encoder",
        "tokenizer",
        "vlm",
        "processor",
        "spatial_encoder",
        "hybrid_encoder",
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
        hybrid_encoder=None,
        adapter=None,
        conditioning=None,
        context_as_video: bool = False,
    ):
        components = {
            name: value for name, value in locals().items() if name not in ("self", "__class__", "context_as_video")
        }
        super().__init__()
        check_components(components)
        self.register_modules(**components)
        self.register_to_config(context_as_video=check_bool(context_as_video, "context_as_video"))
        #: Hub ids of the upstream checkpoints the components come from (written to the model card).
        self.base_models: list[str] = []
        #: The license of the weights (the model card's ``license``), when known.
        self.license: str | None = None

    def register_modules(self, **kwargs: Any) -> None:
        """Register components (diffusers); each must be complete: no weight left on the ``meta`` device."""
        for name, module in kwargs.items():
            loading.check_complete(name, module)
        super().register_modules(**kwargs)

    # ------------------------------------------------------------------------------------------------
    # assembly, loading, saving
    # ------------------------------------------------------------------------------------------------

    @classmethod
    def from_components(
        cls,
        video_model: str | os.PathLike | DiffusionPipeline = "Lightricks/LTX-Video",
        vlm: str | os.PathLike | torch.nn.Module | None = "Qwen/Qwen2.5-VL-7B-Instruct",
        *,
        processor: Any = None,
        spatial_encoder: Any = None,
        hybrid_encoder: Any = None,
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
            spatial_encoder, hybrid_encoder, adapter, conditioning: our optional components, as modules.
            text_encoder: keep LTX's T5 text encoder (``False`` drops it; an ``adapter`` is then required).
            torch_dtype: dtype of every loaded module.
            local_files_only: never touch the network.
            from_pretrained_kwargs: passed to every ``from_pretrained`` (``cache_dir``, ``revision``...).
        """
        load_kwargs = {"local_files_only": local_files_only, **from_pretrained_kwargs}
        vlm_source = vlm
        ltx, base_models = load_video_model(video_model, torch_dtype, load_kwargs)
        vlm, processor, vlm_ids = load_vlm(vlm, processor, torch_dtype, load_kwargs)
        components = {name: getattr(ltx, name) for name in _LTX_COMPONENTS + ("scheduler",)}
        if not text_encoder:
            components.update(text_encoder=None, tokenizer=None)
        ours = dict(spatial_encoder=spatial_encoder, hybrid_encoder=hybrid_encoder, adapter=adapter)
        pipe = cls(**components, **ours, vlm=vlm, processor=processor, conditioning=conditioning)
        local_base, pipe.license = hub.pipeline_metadata(
            *(name for name in (video_model, vlm_source) if isinstance(name, (str, os.PathLike)))
        )
        pipe.base_models = list(dict.fromkeys(base_models + vlm_ids + local_base))
        return pipe

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> ForesightPipeline:
        """Load a saved pipeline (a folder or Hub id), as ``DiffusionPipeline.from_pretrained``.

        Before anything is built, each component's safetensors files are checked whole (a truncated or
        damaged file is refused, naming it) and its config is compared with what they hold (:func:`foresight_models.pipelines.loading.check_config_fits_weights`); after loading, a
        component with a key missing from its weights is refused, naming the keys and the file (the
        transformers models are loaded with their loading report for this). A saved
        ``hybrid_encoder`` (whose folder holds only its fusion weights) is rebuilt on this pipeline's own
        ``spatial_encoder`` and ``vlm`` instead of loading its backbones again.
        """
        folder = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(folder):
            download_keys = ("cache_dir", "revision", "token", "local_files_only", "proxies")
            folder = cls.download(folder, **{k: kwargs[k] for k in download_keys if k in kwargs})
        index = cls.load_config(folder)
        for name, entry in index.items():
            if not name.startswith("_") and isinstance(entry, (list, tuple)) and len(entry) == 2 and name not in kwargs:
                loading.check_weight_files(folder, name)
                loading.check_config_fits_weights(folder, name, *entry)
        kwargs = {**kwargs, **loading.load_transformers_models(folder, index, kwargs)}
        if "hybrid_encoder" in kwargs or (index.get("hybrid_encoder") or [None])[0] is None:
            pipe = super().from_pretrained(folder, **kwargs)
            pipe.base_models, pipe.license = hub.pipeline_metadata(folder)
            return pipe
        pipe = super().from_pretrained(folder, hybrid_encoder=None, **kwargs)
        pipe.base_models, pipe.license = hub.pipeline_metadata(folder)
        hybrid_encoder = HybridEncoder.from_pretrained(
            os.path.join(folder, "hybrid_encoder"),
            dino=pipe.spatial_encoder,
            vlm=pipe.vlm,
            torch_dtype=kwargs.get("torch_dtype"),
            local_files_only=kwargs.get("local_files_only"),
        )
        pipe.register_modules(hybrid_encoder=hybrid_encoder.to(pipe.transformer.device))
        return pipe

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        base_models: Sequence[str] | None = None,
        license: str | None = None,
        card_repo_id: str | None = None,
        push_to_hub: bool = False,
        **kwargs: Any,
    ) -> None:
        """Write a standard diffusers folder (``model_index.json``, one safetensors subfolder per component)
        plus ``README.md``, this library's model card with Hub metadata.

        The folder is written beside ``save_directory`` and moved into place once complete: afterwards
        ``save_directory`` holds exactly this pipeline (the component folders of a pipeline saved there
        before are removed; files that belong to no pipeline, such as ``.git``, stay), and a save that
        fails leaves it as it was.

        Args:
            base_models: Hub ids recorded as the card's ``base_model`` (default: :attr:`base_models`).
            license: the card's license (default: :attr:`license`).
            card_repo_id: the repository the card's usage snippet loads (default: the folder name).
            push_to_hub: then upload the folder, card included, to ``repo_id`` (default: the folder name;
                ``token``, ``private``, ``create_pr``, ``commit_message`` are the upload's).
            kwargs: passed to ``DiffusionPipeline.save_pretrained``. ``safe_serialization`` must stay
                ``True``: this library writes and reads safetensors only, never pickle.

        Raises:
            ValueError: ``safe_serialization`` other than ``True``.
        """
        from .model_card import write_model_card

        if kwargs.get("safe_serialization", True) is not True:
            raise ValueError(
                f"safe_serialization: only safetensors (True) is supported, got {kwargs['safe_serialization']!r}; "
                "foresight_models never writes pickle files"
            )
        upload_arguments = {key: kwargs.pop(key) for key in hub.HUB_ARGUMENTS if key in kwargs}
        if push_to_hub:
            save = lambda full_id: self.save_pretrained(  # noqa: E731
                save_directory, base_models=base_models, license=license, card_repo_id=full_id, **kwargs
            )
            return hub.upload_saved(save, save_directory, upload_arguments)
        components = {
            name: f"{type(module).__module__}.{type(module).__name__}"
            for name, module in self.components.items()
            if module is not None
        }
        card = dict(
            components=components,
            base_models=list(base_models if base_models is not None else self.base_models),
            license=license if license is not None else self.license,
            model_name=(card_repo_id or os.path.abspath(os.fspath(save_directory))).replace(os.sep, "/").split("/")[-1],
            repo_id=card_repo_id,
        )

        def write(staging: str) -> None:
            super(ForesightPipeline, self).save_pretrained(staging, **kwargs)
            write_model_card(staging, **card)

        loading.save_folder(save_directory, write)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        base_models: Sequence[str] | None = None,
        license: str | None = None,
        **save_kwargs: Any,
    ):
        """Upload the pipeline to the Hub as ``repo_id`` in one commit, with this library's model card (its
        usage snippet loads ``repo_id``; ``base_model`` and ``license`` as in :meth:`save_pretrained`).

        Returns the commit info of ``huggingface_hub``.
        """
        save_kwargs.update(base_models=base_models, license=license)
        return hub.push_pipeline(
            self, repo_id, save_kwargs=save_kwargs, token=token, private=private, create_pr=create_pr,
            commit_message=commit_message,
        )  # fmt: skip

    def enable_vae_tiling(self, **kwargs: Any) -> None:
        """Decode the video in overlapping tiles (``AutoencoderKLLTXVideo.enable_tiling`` arguments) to save memory."""
        self.vae.enable_tiling(**kwargs)

    def disable_vae_tiling(self) -> None:
        """Decode the video in one pass again."""
        self.vae.disable_tiling()

    # ------------------------------------------------------------------------------------------------
    # speed and memory (docs/performance.md)
    # ------------------------------------------------------------------------------------------------

    def enable_fast_path(
        self,
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
    ) -> dict[str, str]:
        """Switch on the opt-in fast path (:mod:`foresight_models.pipelines.fast_path`); call it after ``.to(device)``.

        Args:
            compile: compile the VLM's decode step (with ``static_cache``) and the LTX transformer's repeated
                block (regional compilation), on a CUDA device; ``"vlm"`` or ``"transformer"`` compiles only that one.
            static_cache: the VLM's ``generate`` uses transformers' static key/value cache.
            fuse_qkv: fused query/key/value projections where the transformer's attention reads them.
            attention_backend: a diffusers attention backend for the LTX transformer (``"_native_cudnn"``,
                ``"flash"``...), or ``None`` to keep PyTorch's choice.
            batched_answers: describe (and rate) several continuations in one ``generate`` call.
            device_inputs: the processor prepares the VLM's images and frames on the VLM's CUDA device, and
                predicted frames reach it as uint8 tensors instead of PIL images.
            fp8: torchao float8 linear layers in the LTX transformer's blocks (CUDA, compute capability 8.9+,
                torchao installed); opt-in, since frames move a little. With ``compile`` the first call compiles
                the float8 blocks for several minutes.
            fullgraph: compile each transformer block as one graph.
            vlm_compile_mode: the ``torch.compile`` mode of the VLM's decode step.
            vlm_cache_length: positions of the static cache (longer answers get a longer one); one length
                for every answer means one compiled decode step. ``None``: each answer's own length.

        Returns:
            :attr:`fast_path`: each piece -> ``"active"`` or the reason it is off (also logged). A piece
            that is unavailable here (no CUDA device, a backend not installed) is off, never an error.
        """
        from .fast_path import FastPath

        self.disable_fast_path()
        options = dict(compile=compile, static_cache=static_cache, fuse_qkv=fuse_qkv, batched_answers=batched_answers)
        options.update(attention_backend=attention_backend, device_inputs=device_inputs, fp8=fp8)
        options.update(fullgraph=fullgraph, vlm_compile_mode=vlm_compile_mode)
        self._fast_path = FastPath.enable(self, **options, vlm_cache_length=vlm_cache_length)
        return self.fast_path

    def disable_fast_path(self) -> None:
        """Undo :meth:`enable_fast_path`: the components run their stock code again."""
        fast = getattr(self, "_fast_path", None)
        if fast is not None:
            fast.disable()
            self._fast_path = None

    @property
    def fast_path(self) -> dict[str, str]:
        """Each piece of the fast path -> ``"active"`` or the reason it is off; empty while it is not enabled."""
        fast = getattr(self, "_fast_path", None)
        return {} if fast is None else dict(fast.status)

    def enable_group_offload(self, onload_device: torch.device | str, **kwargs: Any) -> None:
        """Keep every component's weights on ``offload_device`` (the CPU) and bring them to ``onload_device``
        group by group as they run (:func:`foresight_models.pipelines.offload.enable_group_offload`).

        The LTX transformer uses ``offload_type`` (default ``"block_level"``, one block per group); the
        VLM, T5, VAE and every other component use leaf-level groups, since they are entered through
        other methods than ``forward`` (``generate``, ``encode``, ``decode``). Arguments are diffusers'
        ``enable_group_offload`` arguments.
        """
        from .offload import enable_group_offload

        enable_group_offload(self, onload_device, **kwargs)

    # ------------------------------------------------------------------------------------------------
    # the call
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
        frame_rate: float = 25,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.0,
        negative_prompt: str | None = None,
        num_continuations: int = 1,
        rate: bool | None = None,
        conditioning_frames: str | Sequence[int] = "first",
        conditioning_strength: float = 1.0,
        context_conditioning: str = "last",
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        decode_timestep: float = 0.05,
        decode_noise_scale: float | None = None,
        max_new_tokens: int = 128,
        max_description_frames: int = 8,
        max_sequence_length: int = 128,
        callback_on_step_end: Callable[..., dict] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        attention_kwargs: dict[str, Any] | None = None,
        check_memory: bool = True,
    ) -> ForesightPipelineOutput | tuple:
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
                (``guidance_scale > 1``), the unconditional branch gets zero embeddings of the same shape;
                ``negative_prompt`` then needs a text encoder and is refused.
            num_continuations: how many futures to generate in one batch (``>= 1``).
            rate: ask the VLM to score each clip (default: when ``num_continuations > 1``, there is a VLM
                and ``output_type`` is not ``"latent"``).
            conditioning_frames, conditioning_strength: latent frames that receive the adapter tokens
                (``"first"``, ``"all"`` or indices) and their strength (see :mod:`foresight_models.conditioning`);
                only used while adapter tokens are injected; other values are refused when nothing uses them.
            context_conditioning: which context images condition the video: ``"last"`` (image-to-video from
                the last image; default) or ``"all"`` (context image ``i`` is frame ``i`` of the clip, through
                diffusers' ``LTXConditionPipeline``; needs LTX-Video >= 0.9.5, no ``latents``, no injected
                adapter tokens; see :mod:`foresight_models.pipelines.context_conditioning`).
            generator, seed: the noise source: one ``torch.Generator`` for the whole batch, a list of one
                generator per continuation (then ``out.seed`` is ``None``), or a fresh CPU generator seeded
                with ``seed`` (an int in ``[0, 2**64)``; random when ``None``).
            latents: initial latents drawn in advance, passed to ``LTXImageToVideoPipeline``: packed
                ``(num_continuations, tokens, channels)`` or unpacked ``(num_continuations, channels,
                latent_frames, height / s, width / s)``; latent frame 0 should hold the encoded context frame.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"`` (no description then).
            return_dict: ``False`` returns ``ForesightPipelineOutput.to_tuple()``:
                ``(frames, description, prompt, scores, seed, ratings, order)``.
            max_new_tokens: VLM tokens per answer (greedy decoding).
            max_description_frames: the VLM's frame budget per clip (frames evenly sampled, first and last kept).
            callback_on_step_end, callback_on_step_end_tensor_inputs: diffusers' step callback, called as
                ``callback(pipe, step, timestep, tensors)`` with this pipeline as ``pipe``; it may read
                ``pipe.guidance_scale``, ``pipe.num_timesteps``, ``pipe.current_timestep``... and set
                ``pipe.interrupt = True`` to skip the remaining steps (per call, per thread).
            attention_kwargs: passed to the transformer's attention processors (e.g. ``{"scale": 0.5}`` for
                loaded LoRA weights).
            check_memory: refuse a call whose estimated memory (:meth:`estimate_memory`) exceeds what the
                execution device has free; ``False`` skips the check.

        Returns:
            :class:`ForesightPipelineOutput`, continuations sorted best first (a tuple with ``return_dict=False``).

        Raises:
            TypeError, ValueError: an invalid argument (:meth:`check_inputs`), before any model runs.
            MemoryError: the call cannot fit (see ``check_memory``).
            NonFiniteOutputError: a stage produced ``nan`` values (names the stage).
        """
        # 1. check inputs (``locals()`` holds exactly the arguments here: the signature is their one list)
        self.check_inputs(**{name: value for name, value in locals().items() if name != "self"})
        context = context_images(image)
        generator, seed = noise_source(generator, seed, num_continuations=num_continuations)
        sizes = dict(height=height, width=width, num_frames=num_frames)
        latents = check_latents(latents, self.transformer, self.vae, num_continuations=num_continuations, **sizes)
        rate = self._rates(rate, num_continuations=num_continuations, output_type=output_type)
        self.begin_call(guidance_scale=guidance_scale, attention_kwargs=attention_kwargs)
        with self._call_scope():
            # 2. motion prompt
            if prompt is None:
                prompt = self._write_motion_prompt(context, max_new_tokens=max_new_tokens)

            # 3. video: (n, t, c, h, w) frames in [0, 1], or packed latents
            video = self._generate_video(
                context,
                prompt,
                negative_prompt=negative_prompt,
                num_continuations=num_continuations,
                conditioning_frames=conditioning_frames,
                conditioning_strength=conditioning_strength,
                context_conditioning=context_conditioning,
                callback_on_step_end=callback_on_step_end,
                callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                output_type=output_type,
                **sizes,
                latents=latents,
                attention_kwargs=attention_kwargs,
                frame_rate=frame_rate,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                generator=generator,
                decode_timestep=decode_timestep,
                decode_noise_scale=decode_noise_scale,
                max_sequence_length=max_sequence_length,
            )
            if output_type == "latent":
                order = list(range(num_continuations))
                output = ForesightPipelineOutput(video, description=None, prompt=prompt, scores=None, seed=seed, order=order)
                return output if return_dict else output.to_tuple()
            clips = [convert_frames(clip, output_type) for clip in video]
            for index, clip in enumerate(clips):
                emit(Frames(frames=clip, index=index))

            # 4. describe and rate
            descriptions, ratings, scores = self._describe_and_rate(
                video, context, question, rate=rate, max_new_tokens=max_new_tokens, budget=max_description_frames
            )

        # 5. rank
        output = ranked_output(clips, descriptions, ratings, scores, prompt=prompt, seed=seed, output_type=output_type)
        return output if return_dict else output.to_tuple()

    def stream(self, image: Any, prompt: str | None = None, question: str = DEFAULT_QUESTION, **kwargs: Any):
        """Run ``__call__`` with the same arguments and yield its events as they happen.

        Returns a :class:`~foresight_models.pipelines.streaming.ForesightStream` (an iterator and a
        context manager) of :class:`~foresight_models.pipelines.events.TextDelta` (VLM text as it is
        produced: the motion prompt first, before any frame exists), :class:`Progress` (denoising
        steps), :class:`Frames`, :class:`Description`, and last :class:`Done` carrying the same
        :class:`ForesightPipelineOutput` that ``__call__`` returns. The call runs in a worker thread;
        leaving the loop early (``break``, even while the stream is still referenced), ``close()`` or
        leaving a ``with`` block stops it at its next event and waits for it. Errors are re-raised here;
        an unknown argument is a ``TypeError`` at once.

        The stages run one after the other, as in ``__call__`` (see ``docs/pipeline.md``, "Streaming").
        """
        arguments = self._bind(image, prompt, question, **kwargs)
        return ForesightStream(lambda: self(**arguments))

    # ------------------------------------------------------------------------------------------------
    # 1. check inputs
    # ------------------------------------------------------------------------------------------------

    def check_inputs(self, image: Any, prompt: str | None = None, question: str = DEFAULT_QUESTION, **kwargs: Any):
        """Check the arguments of a call without running any model; raise at the first invalid one.

        Takes exactly the arguments of ``__call__``, with the same defaults (an unknown name is a
        ``TypeError``), so a caller can check its arguments before starting the work. The memory
        estimate (``check_memory=True``) needs the execution device, so call it on the pipeline as it
        will run (after ``.to(device)``).

        Raises:
            TypeError: an argument of the wrong type (its name, the value and what is allowed).
            ValueError: an argument out of range, or one this pipeline's components cannot use.
            MemoryError: the call would need more memory than the execution device has free.
        """
        call = self._bind(image, prompt, question, **kwargs)
        check_components(self.components, when="at call time: ")  # a component may have been removed since
        context = context_images(call["image"])
        check_video_arguments(call, callback_tensor_inputs=self._callback_tensor_inputs)
        self._check_text_arguments(call)
        self._check_conditioning_arguments(call)
        self._check_context_conditioning(call, num_images=len(context))
        noise_source(call["generator"], call["seed"], num_continuations=call["num_continuations"])
        sizes = {name: call[name] for name in ("num_continuations", "height", "width", "num_frames")}
        check_latents(call["latents"], self.transformer, self.vae, **sizes)
        check_bool(call["return_dict"], "return_dict")
        if call["attention_kwargs"] is not None and not isinstance(call["attention_kwargs"], dict):
            raise TypeError(f"attention_kwargs: expected a dict or None, got {type(call['attention_kwargs']).__name__}")
        if check_bool(call["check_memory"], "check_memory"):
            self._check_memory(call)

    def _bind(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The arguments of a call by name, defaults filled in; ``__call__``'s signature is their one source."""
        bound = inspect.signature(type(self).__call__).bind(self, *args, **kwargs)
        bound.apply_defaults()
        return {name: value for name, value in bound.arguments.items() if name != "self"}

    def _check_text_arguments(self, call: dict[str, Any]) -> None:
        prompt, question, negative_prompt, rate = (call[k] for k in ("prompt", "question", "negative_prompt", "rate"))
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"prompt: expected a str or None, got {type(prompt).__name__}")
        if self.vlm is None and prompt is None:
            raise ValueError("prompt: required when the pipeline has no vlm to write it, got None")
        if self.vlm is not None and (not isinstance(question, str) or not question.strip()):
            raise ValueError(f"question: expected a non-empty str, got {question!r}")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise TypeError(f"negative_prompt: expected a str or None, got {type(negative_prompt).__name__}")
        if negative_prompt is not None and self.text_encoder is None:
            raise ValueError(
                f"negative_prompt: needs a text_encoder to encode it, and this pipeline has none; got {negative_prompt!r}"
            )
        if rate is not None:
            check_bool(rate, "rate")
        if rate and self.vlm is None:
            raise ValueError("rate=True needs a vlm to act as critic, and this pipeline has none")
        if rate and call["output_type"] == "latent":
            raise ValueError("rate=True: the critic rates decoded clips, and output_type='latent' does not decode them")
        check_int(call["max_new_tokens"], "max_new_tokens")
        check_int(call["max_description_frames"], "max_description_frames")

    def _check_conditioning_arguments(self, call: dict[str, Any]) -> None:
        """``conditioning_frames`` / ``conditioning_strength`` are valid, and left unset when no hook uses them."""
        frames, strength = call["conditioning_frames"], call["conditioning_strength"]
        if self._conditioning_mode() is None:
            frames_unset = isinstance(frames, str) and frames == "first"
            strength_unset = isinstance(strength, (int, float)) and strength == 1.0
            if not (frames_unset and strength_unset):
                raise ValueError(
                    "conditioning_frames, conditioning_strength: only used to inject adapter tokens (an adapter with "
                    "a text_encoder or a conditioning component), which this pipeline does not do; "
                    f"got conditioning_frames={frames!r}, conditioning_strength={strength!r}"
                )
            return
        num_latent_frames = (call["num_frames"] - 1) // self.vae.temporal_compression_ratio + 1
        for name, check in (
            ("conditioning_frames", lambda: conditioning.video_token_mask(frames, num_frames=num_latent_frames, height=1, width=1)),
            ("conditioning_strength", lambda: conditioning.normalize_strength(strength)),
        ):  # fmt: skip
            try:
                check()
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}: {error}") from error

    def _check_context_conditioning(self, call: dict[str, Any], *, num_images: int) -> None:
        """``context_conditioning`` is known, and ``"all"`` gets what ``LTXConditionPipeline`` can do."""
        mode = check_choice(call["context_conditioning"], "context_conditioning", CONTEXT_CONDITIONING)
        if mode != "all":
            return
        if call["latents"] is not None:
            raise ValueError(
                "latents: not supported with context_conditioning='all' (LTXConditionPipeline draws its own noise "
                "around the condition frames); use context_conditioning='last' or latents=None"
            )
        if self._conditioning_mode() is not None:
            raise ValueError(
                "context_conditioning='all' cannot be combined with injected adapter tokens (the condition "
                "frames add tokens the injection hooks do not cover); use context_conditioning='last'"
            )
        if num_images > 1 and call["num_continuations"] > 1:
            raise ValueError(
                f"context_conditioning='all' with {num_images} context images generates one continuation per call "
                f"(diffusers' LTXConditionPipeline does not batch keyframe conditions); got "
                f"num_continuations={call['num_continuations']}: call once per continuation, or use 'last'"
            )
        if num_images >= call["num_frames"]:
            raise ValueError(
                f"context_conditioning='all': {num_images} context images need num_frames > {num_images}, "
                f"got num_frames={call['num_frames']}"
            )

    def estimate_memory(
        self, *, height: int, width: int, num_frames: int, num_continuations: int = 1, guidance_scale: float = 3.0
    ) -> int:
        """Bytes a call of this size needs beyond the weights: a simple, generous estimate
        (:func:`foresight_models.pipelines.memory.estimate_call_memory` documents the formula)."""
        sizes = dict(height=height, width=width, num_frames=num_frames, num_continuations=num_continuations)
        return estimate_call_memory(self.transformer, self.vae, guidance=guidance_scale > 1, **sizes)

    def _check_memory(self, call: dict[str, Any]) -> None:
        sizes = {name: call[name] for name in ("height", "width", "num_frames", "num_continuations", "guidance_scale")}
        needed = self.estimate_memory(**sizes)
        device = self._execution_device
        free = available_memory(device)
        if free is not None and needed > free:
            shown = ", ".join(f"{name}={value}" for name, value in sizes.items() if name != "guidance_scale")
            raise MemoryError(
                f"{shown}: this call needs about {needed / 2**30:.1f} GiB on {device} and {free / 2**30:.1f} GiB "
                "are free; lower height, width, num_frames or num_continuations, enable VAE tiling, or pass "
                "check_memory=False to run it anyway"
            )

    def _rates(self, rate: bool | None, *, num_continuations: int, output_type: str) -> bool:
        if rate is None:
            return num_continuations > 1 and self.vlm is not None and output_type != "latent"
        return rate

    @contextlib.contextmanager
    def _call_scope(self):
        """Model CPU offload moves whole components between devices, so offloaded calls run one at a time;
        afterwards every offloaded component goes back to the CPU, also on error."""
        offloaded = bool(getattr(self, "_all_hooks", None))
        with lock_for(self.transformer) if offloaded else contextlib.nullcontext():
            try:
                yield
            finally:
                self.maybe_free_model_hooks()

    # ------------------------------------------------------------------------------------------------
    # 2. motion prompt, 4. describe and rate: the VLM
    # ------------------------------------------------------------------------------------------------

    def _write_motion_prompt(self, context: list[PIL.Image.Image], *, max_new_tokens: int) -> str:
        content, media = self._context_question(context, MOTION_PROMPT_INSTRUCTION)
        return self._vlm_answer(content, **media, max_new_tokens=max_new_tokens, stage="prompt")

    def _context_question(self, context: list[PIL.Image.Image], question: str) -> tuple[list[dict], dict[str, list]]:
        """:func:`vlm_question` about the context images: one video of all of them with
        ``context_as_video``, else one image each."""
        return vlm_question("video" if self.config.context_as_video else "image", context, question)

    def _describe_and_rate(
        self, video: torch.Tensor, context: list, question: str, *, rate: bool, max_new_tokens: int, budget: int
    ) -> tuple[list[str] | None, list[str] | None, list[float] | None]:
        """The VLM's description of each clip of ``video (n, t, c, h, w)`` and, with ``rate``, its rating."""
        if self.vlm is None:
            return None, None, None
        clips = [self._vlm_frames(sample_frames(clip, budget)) for clip in video]
        fast = getattr(self, "_fast_path", None)
        if len(clips) > 1 and fast is not None and fast.batched_answers:
            _onload(self.vlm)
            return describe_and_rate_batched(self, clips, context, question, rate=rate, max_new_tokens=max_new_tokens)
        descriptions, ratings, scores = [], [], []
        for index, frames in enumerate(clips):
            text = self._describe_frames(frames, question, max_new_tokens=max_new_tokens, index=index)
            descriptions.append(text)
            score = None
            if rate:
                content = [{"type": "image"}, {"type": "video"}, {"type": "text", "text": RATING_PROMPT}]
                answer = self._vlm_answer(
                    content, images=context[-1:], videos=[frames], max_new_tokens=max_new_tokens, stage="rating", index=index
                )
                score = parse_rating(answer)
                ratings.append(answer)
                scores.append(score)
            emit(Description(text=text, index=index, score=score))
        return (descriptions, ratings, scores) if rate else (descriptions, None, None)

    def _describe_frames(
        self, frames: list[PIL.Image.Image] | torch.Tensor, question: str, *, max_new_tokens: int, index: int | None
    ) -> str:
        content, media = vlm_question("video", frames, question)
        return self._vlm_answer(content, **media, max_new_tokens=max_new_tokens, stage="description", index=index)

    @torch.no_grad()
    def describe(
        self,
        video: Any,
        question: str = DEFAULT_QUESTION,
        *,
        max_new_tokens: int = 128,
        max_description_frames: int = 8,
    ) -> str | list[str]:
        """The VLM's answer to ``question`` about a clip, exactly as stage 4 of a call describes a predicted clip.

        Use it to describe a real clip the way generated ones are described (same frame sampling, same
        prompt, greedy decoding), e.g. to compare action recall on real and on predicted video.

        Args:
            video: one clip (a ``(t, c, h, w)`` tensor, uint8 or float in [0, 1], a ``(t, h, w, c)`` array or a
                list of PIL images) or a batch of clips (a ``(b, t, c, h, w)`` tensor / ``(b, t, h, w, c)`` array).
            question: what the VLM is asked (the call's ``question``).
            max_new_tokens: VLM tokens per answer.
            max_description_frames: the VLM's frame budget per clip (frames evenly sampled, first and last kept).

        Returns:
            the description of the clip, or a list of one description per clip for a batch.

        Raises:
            ValueError: the pipeline has no VLM, an empty ``question``, or a ``video`` that is not a clip of RGB frames.
        """
        if self.vlm is None:
            raise ValueError("describe needs a vlm, and this pipeline has none")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"question: expected a non-empty str, got {question!r}")
        check_int(max_new_tokens, "max_new_tokens")
        budget = check_int(max_description_frames, "max_description_frames")
        batched = not isinstance(video, (list, tuple)) and getattr(video, "ndim", None) == 5
        clips = to_frames(video, name="video")  # (b, t, c, h, w)
        if isinstance(video, torch.Tensor) and video.is_floating_point() and video.shape[-3] == 3:
            clips = video if batched else video.unsqueeze(0)  # stage 4 reads float frames in their own dtype
        with self._call_scope():
            texts = [
                self._describe_frames(
                    self._vlm_frames(sample_frames(clip, budget)), question, max_new_tokens=max_new_tokens, index=None
                )
                for clip in clips
            ]
        return texts if batched else texts[0]

    def _vlm_device_inputs(self) -> bool:
        """Whether the fast path's ``vlm_device_inputs`` piece is active."""
        fast = getattr(self, "_fast_path", None)
        return fast is not None and fast.vlm_device_inputs

    def _vlm_frames(self, frames: torch.Tensor) -> list[PIL.Image.Image] | torch.Tensor:
        """Frames ``(t, c, h, w)`` as the VLM's processor takes them: PIL images, or with the fast path's
        ``vlm_device_inputs`` the same 8-bit pixels as a uint8 tensor on the VLM's device."""
        if not self._vlm_device_inputs():
            return to_pil_images(frames)
        return frames_to_uint8(frames).to(self._execution_device)

    def _vlm_processor_options(self) -> dict[str, Any]:
        """Extra processor arguments: the device it prepares images and frames on (fast path)."""
        return {"device": self._execution_device} if self._vlm_device_inputs() else {}

    def _vlm_inputs(self, content: list[dict], *, images=None, videos=None):
        messages = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(
            text=[text], images=images, videos=videos, return_tensors="pt", **self._vlm_processor_options()
        )
        return inputs.to(device=self._execution_device, dtype=self.vlm.dtype)

    def _vlm_answer(
        self, content: list[dict], *, max_new_tokens: int, stage: str, index: int | None = None, images=None, videos=None
    ) -> str:
        """Greedy VLM answer to one user turn; streamed as ``TextDelta`` events inside a stream.

        The text is emitted from inside ``generate``, so a cancelled stream stops the generation at its
        next token.
        """
        _onload(self.vlm)
        streamer = text_delta_streamer(self.processor.tokenizer, stage=stage, index=index)
        with lock_for(self.vlm):  # the processor's tokenizer and the VLM's generation state are shared
            inputs = self._vlm_inputs(content, images=images, videos=videos)
            ids = self.vlm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer)
            new_tokens = ids[:, inputs["input_ids"].shape[1] :]
            return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()

    # ------------------------------------------------------------------------------------------------
    # 3. video
    # ------------------------------------------------------------------------------------------------

    def _generate_video(
        self,
        context: list[PIL.Image.Image],
        prompt: str,
        *,
        negative_prompt: str | None,
        num_continuations: int,
        conditioning_frames: Any,
        conditioning_strength: Any,
        context_conditioning: str,
        callback_on_step_end: Callable[..., dict] | None,
        callback_on_step_end_tensor_inputs: Sequence[str],
        output_type: str,
        **ltx_arguments: Any,
    ) -> torch.Tensor:
        """LTX through diffusers' own pipeline (``LTXImageToVideoPipeline``, or ``LTXConditionPipeline`` with
        ``context_conditioning="all"``); ``(n, t, c, h, w)`` frames or latents.

        The inner pipeline gets a copy of the scheduler (its step state is per call) and the component
        objects themselves; the step callback receives this pipeline.
        """
        components = {name: getattr(self, name) for name in _LTX_COMPONENTS}
        ltx = inner_pipeline(context_conditioning, components, copy.deepcopy(self.scheduler))
        self.call_state.inner = ltx
        ltx.set_progress_bar_config(**getattr(self, "_progress_bar_config", {}))
        if self.text_encoder is not None:  # a fast tokenizer's padding/truncation settings are shared state
            ltx.encode_prompt = locked(ltx.encode_prompt, lock_for(self.text_encoder))
        requested = list(callback_on_step_end_tensor_inputs)
        total = ltx_arguments["num_inference_steps"]

        def after_step(step: int, latents: torch.Tensor) -> None:
            check_finite(latents, "video denoising", f"the latents after denoising step {step + 1} of {total}")
            emit(Progress(step=step + 1, total=total))

        generator_list = isinstance(ltx_arguments["generator"], list)
        call = dict(
            image_arguments(context, context_conditioning, rows=num_continuations, generator_list=generator_list),
            num_videos_per_prompt=num_continuations,
            output_type="latent" if output_type == "latent" else "pt",
            callback_on_step_end=StepEnd(self, callback_on_step_end, requested, after_step),
            callback_on_step_end_tensor_inputs=list(dict.fromkeys(["latents", *requested])),
            **ltx_arguments,
        )
        if call["latents"] is None:
            del call["latents"]
        adapter_output = self._adapter_tokens(context) if self.adapter is not None else None
        call.update(self._prompt_arguments(prompt, negative_prompt, adapter_output))
        with self._adapter_injection(
            adapter_output, rows=num_continuations, frames=conditioning_frames, strength=conditioning_strength
        ):
            video = ltx(**call).frames
        if output_type != "latent":
            check_finite(video, "VAE decode", "the decoded frames")
        return video

    def _prompt_arguments(self, prompt: str, negative_prompt: str | None, adapter_output) -> dict[str, Any]:
        if self.text_encoder is not None:
            return dict(prompt=prompt, negative_prompt=negative_prompt)
        # the adapter's tokens are the prompt embeddings; the unconditional branch gets zeros (documented)
        tokens = adapter_output.tokens.to(self.transformer.dtype)
        mask = adapter_output.mask.long()
        return dict(
            prompt_embeds=tokens,
            prompt_attention_mask=mask,
            negative_prompt_embeds=torch.zeros_like(tokens),
            negative_prompt_attention_mask=mask,
        )

    @contextlib.contextmanager
    def _adapter_injection(self, adapter_output, *, rows: int, frames: Any, strength: Any):
        """Inject the adapter tokens while LTX denoises (when :meth:`_conditioning_mode` says so).

        The hooks are installed on the shared transformer, so calls that inject tokens hold the
        transformer's lock while they denoise.
        """
        mode = self._conditioning_mode()
        if mode is None:
            yield
            return
        tokens = adapter_output.tokens.expand(rows, -1, -1)
        mask = adapter_output.mask.expand(rows, -1)
        with lock_for(self.transformer), conditioning.ltx_conditioning(
            self.transformer, tokens, self.conditioning, mask=mask, frames=frames, strength=strength, mode=mode
        ):  # fmt: skip
            yield

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

        The adapter reads the hybrid encoder's fused tokens when ``spatial_encoder`` and ``hybrid_encoder``
        are present, else the VLM's last hidden states over the context images and the motion instruction.
        """
        device = self._execution_device
        if self.hybrid_encoder is not None:
            clip = to_frames(context).to(device)  # 1 t c h w
            with lock_for(self.hybrid_encoder.vlm):
                fused = self.hybrid_encoder(clip).fused_tokens  # 1 t n d
            tokens, mask = fused.flatten(1, 2), None
        else:  # the constructor guarantees a vlm here
            content, media = self._context_question(context, MOTION_PROMPT_INSTRUCTION)
            _onload(self.vlm)
            with lock_for(self.vlm):
                inputs = self._vlm_inputs(content, **media)
                hidden = self.vlm(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
            tokens, mask = hidden, inputs["attention_mask"].bool()
        output = self.adapter(tokens.to(self.adapter.dtype), mask)
        check_finite(output.tokens, "adapter", "the adapter's conditioning tokens")
        return output


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
