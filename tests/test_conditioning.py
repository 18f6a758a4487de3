"""Tests of the LTX conditioning hooks on real (tiny) diffusers LTX components."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foresight_models import testing
from foresight_models.conditioning import (
    LTXConditioningAdapter,
    install_ltx_conditioning,
    ltx_conditioning,
    video_token_mask,
)

C = testing.TINY_CAPTION_CHANNELS


def two_layer_transformer(seed: int = 0):
    """The tiny LTX transformer with two blocks, so frame-0 conditioning reaches other frames via self-attention."""
    return testing.tiny_ltx_transformer(seed, caption_channels=C, num_layers=2)


def pipeline(transformer=None):
    from diffusers import LTXImageToVideoPipeline

    components = testing.tiny_ltx_components()
    if transformer is not None:
        components["transformer"] = transformer
    pipe = LTXImageToVideoPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, *, height=32, width=32, num_frames=9, steps=2, output_type="latent", **kwargs):
    image = torch.linspace(0, 1, 3 * height * width).reshape(1, 3, height, width)
    return pipe(
        image=image,
        prompt="a ball moves left",
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(0),
        output_type=output_type,
        max_sequence_length=16,
        **kwargs,
    ).frames


def tokens(b: int = 1, k: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, k, C, generator=torch.Generator().manual_seed(seed))


def transformer_inputs(*, batch: int, num_frames: int, height: int, width: int, seed: int = 2) -> dict:
    g = torch.Generator().manual_seed(seed)
    n = num_frames * height * width
    return {
        "hidden_states": torch.randn(batch, n, 8, generator=g),
        "encoder_hidden_states": torch.randn(batch, 6, C, generator=g),
        "timestep": torch.full((batch,), 500.0),
        "encoder_attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0]] * batch),
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "return_dict": False,
    }


def attn2_outputs(transformer, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(output of block 0's cross-attention, transformer output)."""
    captured = []
    handle = transformer.transformer_blocks[0].attn2.register_forward_hook(lambda m, a, out: captured.append(out))
    try:
        with torch.no_grad():
            out = transformer(**inputs)[0]
    finally:
        handle.remove()
    return captured[0], out


def frame_labels_mask(frames, *, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Reference token mask built with the pipeline's own latent packing (b c f h w -> b (f h w) c)."""
    from diffusers import LTXImageToVideoPipeline

    labels = torch.arange(num_frames, dtype=torch.float32)[None, None, :, None, None]
    labels = labels.expand(1, 1, num_frames, height, width)
    packed = LTXImageToVideoPipeline._pack_latents(labels)[0, :, 0].long()
    chosen = range(num_frames) if frames == "all" else [0] if frames == "first" else frames
    return torch.isin(packed, torch.tensor(list(chosen)))


# -- parity and removal ---------------------------------------------------------------------------


def test_pipeline_bit_identical_with_strength_zero_and_after_removal():
    pipe = pipeline(two_layer_transformer())
    transformer = pipe.transformer
    originals = [block.attn2.processor for block in transformer.transformer_blocks]
    state = {key: value.clone() for key, value in transformer.state_dict().items()}
    modules = [name for name, _ in transformer.named_modules()]
    stock = generate(pipe, output_type="pt")

    with ltx_conditioning(transformer, tokens(), strength=0.0):
        assert torch.equal(generate(pipe, output_type="pt"), stock)
    with ltx_conditioning(transformer, tokens(), strength=1.0, frames="first"):
        conditioned = generate(pipe, output_type="pt")
    assert not torch.equal(conditioned, stock)

    assert torch.equal(generate(pipe, output_type="pt"), stock)
    assert all(block.attn2.processor is p for block, p in zip(transformer.transformer_blocks, originals))
    assert len(transformer._forward_pre_hooks) == 0 and len(transformer._forward_pre_hooks_with_kwargs) == 0
    assert [name for name, _ in transformer.named_modules()] == modules
    after = transformer.state_dict()
    assert list(after) == list(state) and all(torch.equal(after[key], state[key]) for key in state)


def test_explicit_install_remove_and_context_exit_on_error():
    transformer = testing.tiny_ltx_transformer()
    original = transformer.transformer_blocks[0].attn2.processor
    hooks = install_ltx_conditioning(transformer, tokens())
    assert hooks.installed and transformer.transformer_blocks[0].attn2.processor is not original
    with pytest.raises(RuntimeError, match="already has LTX conditioning"):
        install_ltx_conditioning(transformer, tokens())
    hooks.remove()
    hooks.remove()  # idempotent
    assert transformer.transformer_blocks[0].attn2.processor is original and not hooks.installed

    with pytest.raises(KeyError):
        with ltx_conditioning(transformer, tokens()):
            raise KeyError("boom")
    assert transformer.transformer_blocks[0].attn2.processor is original
    assert len(transformer._forward_pre_hooks) == 0


# -- which tokens are conditioned -----------------------------------------------------------------


@pytest.mark.parametrize("geometry", [(5, 2, 3), (4, 3, 5), (1, 2, 2)])
@pytest.mark.parametrize("frames", ["first", "all", [1, 3], [0, 4]])
def test_attention_outputs_change_only_on_chosen_frames(geometry, frames):
    num_frames, height, width = geometry
    if isinstance(frames, list) and max(frames) >= num_frames:
        frames = [num_frames - 1]
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=1, num_frames=num_frames, height=height, width=width)
    stock_attn, stock_out = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, tokens(), frames=frames, strength=0.7):
        attn, out = attn2_outputs(transformer, inputs)

    expected = frame_labels_mask(frames, num_frames=num_frames, height=height, width=width)
    assert torch.equal(video_token_mask(frames, num_frames=num_frames, height=height, width=width), expected)
    changed = (attn != stock_attn).any(dim=-1)[0]
    assert torch.equal(changed, expected)
    # with one block, the transformer output outside the chosen frames is stock too
    assert torch.equal((out != stock_out).any(dim=-1)[0], expected)


def test_bfloat16_transformer_with_float32_adapter():
    # the training setup of the docs: a half-precision frozen transformer, a float32 trainable adapter
    transformer = testing.tiny_ltx_transformer().to(torch.bfloat16)
    conditioning = LTXConditioningAdapter.from_transformer(transformer, dtype=torch.float32)
    assert conditioning.dtype == torch.float32
    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    inputs["hidden_states"] = inputs["hidden_states"].to(torch.bfloat16)
    inputs["encoder_hidden_states"] = inputs["encoder_hidden_states"].to(torch.bfloat16)
    stock, _ = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, tokens().to(torch.bfloat16), conditioning, frames=list(np.array([1]))):
        attn, out = attn2_outputs(transformer, inputs)
    assert attn.dtype == out.dtype == torch.bfloat16
    changed = (attn != stock).any(dim=-1)[0]
    assert torch.equal(changed, video_token_mask([1], num_frames=2, height=2, width=2))


def test_guidance_unconditional_half_is_stock_or_same():
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=2, num_frames=2, height=2, width=3)
    stock, _ = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, tokens(b=1), frames="all"):
        guided, _ = attn2_outputs(transformer, inputs)
    assert torch.equal(guided[0], stock[0])
    assert (guided[1] != stock[1]).all(dim=-1).all()
    with ltx_conditioning(transformer, tokens(b=1), frames="all", unconditional="same"):
        same, _ = attn2_outputs(transformer, inputs)
    assert torch.equal(same[1], guided[1])
    assert (same[0] != stock[0]).all(dim=-1).all()


def test_copied_adapter_on_prompt_tokens_matches_reference():
    # IP-Adapter initialisation: with the prompt itself as adapter tokens, the extra attention equals the
    # block's own one, so attn2 output = stock + s * (stock - to_out bias).
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    inputs["encoder_attention_mask"] = torch.ones(1, 6, dtype=torch.long)
    stock, _ = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, inputs["encoder_hidden_states"], frames="all", strength=0.3):
        hooked, _ = attn2_outputs(transformer, inputs)
    bias = transformer.transformer_blocks[0].attn2.to_out[0].bias
    torch.testing.assert_close(hooked, stock + 0.3 * (stock - bias), rtol=1e-5, atol=1e-6)


def test_adapter_token_mask_matches_dropping_masked_tokens():
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    full = tokens(k=5)
    mask = torch.tensor([[True, False, True, True, False]])
    conditioning = LTXConditioningAdapter.from_transformer(transformer)
    with ltx_conditioning(transformer, full, conditioning, mask=mask, frames="all"):
        masked, _ = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, full[:, mask[0]], conditioning, frames="all"):
        dropped, _ = attn2_outputs(transformer, inputs)
    torch.testing.assert_close(masked, dropped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("height", "width", "num_frames", "frames"), [(32, 64, 17, [1]), (64, 32, 25, [2, 4])])
def test_pipeline_non_square_and_frame_counts(height, width, num_frames, frames):
    # one block and one step: the predicted noise of a latent frame depends on the adapter only if it is chosen
    pipe = pipeline()
    stock = generate(pipe, height=height, width=width, num_frames=num_frames, steps=1)
    with ltx_conditioning(pipe.transformer, tokens(), frames=frames, strength=2.0):
        conditioned = generate(pipe, height=height, width=width, num_frames=num_frames, steps=1)
    geometry = ((num_frames - 1) // 4 + 1, height // 4, width // 4)
    unpack = pipe._unpack_latents
    changed = (unpack(conditioned, *geometry) != unpack(stock, *geometry)).flatten(3).any(dim=(0, 1, 3))
    expected = torch.zeros(geometry[0], dtype=torch.bool)
    expected[frames] = True
    assert torch.equal(changed, expected)


# -- strength schedule ----------------------------------------------------------------------------


def test_strength_schedule_per_denoising_step():
    pipe = pipeline(two_layer_transformer())
    transformer = pipe.transformer
    stock = generate(pipe, steps=2)
    with ltx_conditioning(transformer, tokens(), frames="all", strength=1.0):
        constant = generate(pipe, steps=2)
    with ltx_conditioning(transformer, tokens(), frames="all", strength=[0.0, 0.0]):
        assert torch.equal(generate(pipe, steps=2), stock)
    with ltx_conditioning(transformer, tokens(), frames="all", strength=[0.0, 1.0]) as hooks:
        ramp = generate(pipe, steps=2)
        assert hooks.step == 1
        assert torch.equal(generate(pipe, steps=2), ramp)  # a second run restarts the schedule
    assert not torch.equal(ramp, stock) and not torch.equal(ramp, constant)
    with ltx_conditioning(transformer, tokens(), frames="all", strength=lambda step: [0.0, 1.0][step]):
        assert torch.equal(generate(pipe, steps=2), ramp)
    with ltx_conditioning(transformer, tokens(), frames="all", strength=[0.0, 1.0]):
        with pytest.raises(ValueError, match="schedule has 2 values but denoising step 2"):
            generate(pipe, steps=3)


# -- prompt mode ----------------------------------------------------------------------------------


def test_prompt_mode_matches_concatenated_prompt():
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=2, num_frames=2, height=2, width=3)
    extra = tokens(b=1, k=3)
    _, stock = attn2_outputs(transformer, inputs)
    reference_inputs = dict(inputs)
    reference_inputs["encoder_hidden_states"] = torch.cat([inputs["encoder_hidden_states"], extra.expand(2, -1, -1)], 1)
    reference_inputs["encoder_attention_mask"] = torch.cat([inputs["encoder_attention_mask"], torch.ones(2, 3)], 1)
    _, reference = attn2_outputs(transformer, reference_inputs)
    replace_inputs = dict(reference_inputs)
    replace_inputs["encoder_attention_mask"] = torch.cat([torch.zeros(2, 6), torch.ones(2, 3)], 1)
    _, replaced = attn2_outputs(transformer, replace_inputs)

    with ltx_conditioning(transformer, extra, mode="prompt", frames="all"):
        _, out = attn2_outputs(transformer, inputs)
    torch.testing.assert_close(out[1], reference[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[0], stock[0], rtol=1e-5, atol=1e-6)  # unconditional half: no adapter tokens
    with ltx_conditioning(transformer, extra, mode="prompt", frames="all", prompt_merge="replace"):
        _, out = attn2_outputs(transformer, inputs)
    torch.testing.assert_close(out[1], replaced[1], rtol=1e-5, atol=1e-6)


def test_prompt_mode_frames_and_strength():
    transformer = testing.tiny_ltx_transformer()
    inputs = transformer_inputs(batch=1, num_frames=3, height=2, width=2)
    stock, _ = attn2_outputs(transformer, inputs)
    with ltx_conditioning(transformer, tokens(), mode="prompt", frames=[1], strength=2.0):
        attn, _ = attn2_outputs(transformer, inputs)
    inside = video_token_mask([1], num_frames=3, height=2, width=2)
    torch.testing.assert_close(attn[0, ~inside], stock[0, ~inside], rtol=1e-5, atol=1e-6)
    assert ((attn[0, inside] - stock[0, inside]).abs().amax(dim=-1) > 1e-4).all()
    with ltx_conditioning(transformer, tokens(), mode="prompt", frames="all", strength=0.0):
        assert torch.equal(attn2_outputs(transformer, inputs)[0], stock)


# -- training and serialisation -------------------------------------------------------------------


def test_gradients_reach_only_conditioning_adapter_and_tokens():
    transformer = two_layer_transformer().requires_grad_(False)
    conditioning = LTXConditioningAdapter.from_transformer(transformer, init="random")
    adapter_tokens = tokens().requires_grad_(True)
    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    with ltx_conditioning(transformer, adapter_tokens, conditioning, frames="first"):
        out = transformer(**inputs)[0]
    out.square().mean().backward()
    for name, parameter in conditioning.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert adapter_tokens.grad is not None and adapter_tokens.grad.abs().sum() > 0
    assert all(p.grad is None for p in transformer.parameters())


def test_training_lowers_loss():
    transformer = testing.tiny_ltx_transformer().requires_grad_(False)
    conditioning = LTXConditioningAdapter.from_transformer(transformer)
    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    target = torch.zeros(1, 8, 8)
    optimizer = torch.optim.Adam(conditioning.parameters(), lr=3e-2)
    losses = []
    with ltx_conditioning(transformer, tokens(), conditioning, frames="all"):
        for _ in range(8):
            loss = (transformer(**inputs)[0] - target).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_from_transformer_copies_cross_attention_weights():
    transformer = two_layer_transformer()
    conditioning = LTXConditioningAdapter.from_transformer(transformer)
    for layer, block in zip(conditioning.layers, transformer.transformer_blocks):
        for mine, theirs in ((layer.to_k, block.attn2.to_k), (layer.to_v, block.attn2.to_v)):
            assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)
        assert torch.equal(layer.norm_k.weight, block.attn2.norm_k.weight)
    assert (
        conditioning.layers[0].to_k.weight.data_ptr() != transformer.transformer_blocks[0].attn2.to_k.weight.data_ptr()
    )


def test_save_load_round_trip(tmp_path):
    transformer = testing.tiny_ltx_transformer()
    conditioning = LTXConditioningAdapter.from_transformer(transformer, init="random")
    conditioning.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = LTXConditioningAdapter.from_pretrained(tmp_path)
    public = lambda config: {key: value for key, value in config.items() if not key.startswith("_")}  # noqa: E731
    assert public(loaded.config) == public(conditioning.config)
    state, loaded_state = conditioning.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[key], loaded_state[key]) for key in state)

    inputs = transformer_inputs(batch=1, num_frames=2, height=2, width=2)
    with ltx_conditioning(transformer, tokens(), conditioning):
        before = attn2_outputs(transformer, inputs)[1]
    with ltx_conditioning(transformer, tokens(), loaded):
        assert torch.equal(attn2_outputs(transformer, inputs)[1], before)


# -- bad input ------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    from diffusers import LTXImageToVideoPipeline

    transformer = testing.tiny_ltx_transformer()
    with pytest.raises(ValueError, match="caption width 32"):
        install_ltx_conditioning(transformer, torch.randn(1, 4, 16))
    with pytest.raises(TypeError, match="LTXVideoTransformer3DModel, got Linear"):
        install_ltx_conditioning(torch.nn.Linear(2, 2), tokens())
    with pytest.raises(TypeError, match="pass pipe.transformer"):
        install_ltx_conditioning(LTXImageToVideoPipeline(**testing.tiny_ltx_components()), tokens())
    for frames in ([-1], [0, 0], [], "last"):
        with pytest.raises(ValueError, match="frames"):
            install_ltx_conditioning(transformer, tokens(), frames=frames)
    for frames in ([1.0], [True], 0):  # a wrong type is a TypeError naming the argument and the value
        with pytest.raises(TypeError, match=f"frames.*{frames if frames == 0 else frames[0]}"):
            install_ltx_conditioning(transformer, tokens(), frames=frames)
    for strength in (-0.5, float("nan"), float("inf"), [1.0, -1.0], []):
        with pytest.raises(ValueError, match="strength"):
            install_ltx_conditioning(transformer, tokens(), strength=strength)
    for strength in (True, "0.5", [0.5, None]):
        with pytest.raises(TypeError, match="strength.*expected a real number"):
            install_ltx_conditioning(transformer, tokens(), strength=strength)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        install_ltx_conditioning(transformer, tokens(), mask=torch.ones(1, 4))
    with pytest.raises(ValueError, match="at least one real token"):
        install_ltx_conditioning(transformer, tokens(), mask=torch.zeros(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mode: expected one of 'cross_attention', 'prompt', got 'film'"):
        install_ltx_conditioning(transformer, tokens(), mode="film")
    with pytest.raises(ValueError, match="unconditional: expected one of 'none', 'same', got 'zero'"):
        install_ltx_conditioning(transformer, tokens(), unconditional="zero")
    with pytest.raises(ValueError, match="init: expected one of 'copy', 'random', got 'zeros'"):
        LTXConditioningAdapter.from_transformer(transformer, init="zeros")
    with pytest.raises(TypeError, match="conditioning must be an LTXConditioningAdapter or None, got Linear"):
        install_ltx_conditioning(transformer, tokens(), torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="num_frames: expected an int, got 2.0"):
        video_token_mask("first", num_frames=2.0, height=1, width=1)
    with pytest.raises(ValueError, match="frames='all'"):
        install_ltx_conditioning(transformer, tokens(), mode="prompt", prompt_merge="replace")
    wrong = LTXConditioningAdapter.from_transformer(two_layer_transformer())
    with pytest.raises(ValueError, match="num_layers=2 \\(transformer needs 1\\)"):
        install_ltx_conditioning(transformer, tokens(), wrong)
    assert len(transformer._forward_pre_hooks) == 0  # failed installs leave nothing behind

    inputs = transformer_inputs(batch=1, num_frames=3, height=2, width=2)
    with ltx_conditioning(transformer, tokens(), frames=[3]):
        with pytest.raises(ValueError, match="frames index 3 is out of range for a video of 3 latent frames"):
            transformer(**inputs)
    with ltx_conditioning(transformer, tokens(b=3)):
        with pytest.raises(ValueError, match="adapter_tokens have batch 3 but the transformer got batch 1"):
            transformer(**inputs)
    inputs.pop("num_frames")
    with ltx_conditioning(transformer, tokens()):
        with pytest.raises(ValueError, match="needs the latent num_frames"):
            transformer(**inputs)


def test_hooks_name_the_conditioning_module_as_the_argument_does():
    transformer = testing.tiny_ltx_transformer()
    conditioning = LTXConditioningAdapter.from_transformer(transformer)
    with ltx_conditioning(transformer, tokens(), conditioning) as hooks:
        assert hooks.conditioning is conditioning
        assert not hasattr(hooks, "adapter")
    with ltx_conditioning(transformer, tokens(), mode="prompt", frames="all") as hooks:
        assert hooks.conditioning is None
