"""Every tiny builder gives a real upstream model that runs forward on CPU with the expected shapes."""

import pytest
import torch
from PIL import Image

from foresight_models import testing


def test_tiny_qwen_forward_and_generate_with_an_image():
    model = testing.tiny_qwen2_5_vl()
    processor = testing.tiny_qwen2_5_vl_processor()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What happens next?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[Image.new("RGB", (64, 48), (200, 30, 30))], return_tensors="pt")
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    grid = inputs["image_grid_thw"][0]
    assert n_image_tokens == int(grid.prod()) // 4 > 0

    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    seq = inputs["input_ids"].shape[1]
    assert out.logits.shape == (1, seq, model.config.text_config.vocab_size)
    assert out.hidden_states[-1].shape == (1, seq, 32)

    generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert generated.shape == (1, seq + 5) or generated[0, -1] == processor.tokenizer.eos_token_id
    assert isinstance(processor.batch_decode(generated[:, seq:])[0], str)


def test_tiny_qwen_tokenizer_round_trips_text_and_knows_special_tokens():
    tokenizer = testing.tiny_qwen2_5_vl_tokenizer()
    text = "Pushing a cube from left to right, 3 times. Ünïcödé ok"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    ids = tokenizer("<|im_start|>user<|im_end|>")["input_ids"]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert len(tokenizer) == testing.tiny_qwen2_5_vl().config.text_config.vocab_size


@pytest.mark.parametrize("builder", [testing.tiny_dinov2, testing.tiny_timm_dinov2])
def test_tiny_dinov2_backbones_give_cls_plus_patch_tokens(builder):
    model = builder()
    pixels = torch.rand(2, 3, 56, 84)
    with torch.no_grad():
        if hasattr(model, "forward_features"):
            tokens = model.forward_features(pixels)
        else:
            tokens = model(pixel_values=pixels).last_hidden_state
    assert tokens.shape == (2, 1 + 4 * 6, 32)


def test_tiny_ltx_transformer_and_vae_shapes():
    transformer = testing.tiny_ltx_transformer()
    vae = testing.tiny_ltx_vae()
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1  # b c t h w in [-1, 1]
    with torch.no_grad():
        latents = vae.encode(video).latent_dist.mode()
        assert latents.shape == (1, 8, 3, 8, 8)
        assert vae.decode(latents).sample.shape == video.shape

        tokens = latents.flatten(2).transpose(1, 2)  # b (t h w) c
        caption = torch.randn(1, 5, testing.TINY_CAPTION_CHANNELS)
        out = transformer(
            hidden_states=tokens,
            encoder_hidden_states=caption,
            timestep=torch.tensor([500.0]),
            encoder_attention_mask=torch.ones(1, 5),
            num_frames=3,
            height=8,
            width=8,
        ).sample
    assert out.shape == tokens.shape


def test_tiny_t5_encoder_with_its_tokenizer():
    tokenizer = testing.tiny_t5_tokenizer()
    encoder = testing.tiny_t5_encoder()
    batch = tokenizer(["the ball falls down", "a hand pushes the cube left"], padding=True, return_tensors="pt")
    assert int(batch["input_ids"].max()) < encoder.config.vocab_size
    assert tokenizer.unk_token_id not in batch["input_ids"].tolist()[0]
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    assert hidden.shape == (*batch["input_ids"].shape, testing.TINY_CAPTION_CHANNELS)


def test_tiny_ltx_pipeline_generates_a_9x32x32_clip_deterministically():
    pipe = testing.tiny_ltx_pipeline()
    kwargs = dict(
        image=Image.new("RGB", (32, 32), (10, 120, 200)),
        prompt="the ball moves left",
        height=32,
        width=32,
        num_frames=9,
        num_inference_steps=2,
        output_type="pt",
    )
    first = pipe(**kwargs, generator=torch.Generator().manual_seed(0)).frames
    second = pipe(**kwargs, generator=torch.Generator().manual_seed(0)).frames
    assert first.shape == (1, 9, 3, 32, 32)
    assert torch.equal(first, second)


@pytest.mark.parametrize(
    "builder",
    [testing.tiny_qwen2_5_vl, testing.tiny_dinov2, testing.tiny_timm_dinov2, testing.tiny_ltx_transformer,
     testing.tiny_ltx_vae, testing.tiny_t5_encoder],
)
def test_builders_are_deterministic_and_do_not_touch_global_rng(builder):
    state = torch.random.get_rng_state()
    first, second = builder(seed=3), builder(seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    other = builder(seed=4)
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


@pytest.mark.parametrize(
    "builder", [testing.tiny_qwen2_5_vl, testing.tiny_ltx_vae, testing.tiny_ltx_transformer, testing.tiny_dinov2]
)
def test_builders_are_tiny(builder):
    # What keeps them fast is their size; a wall-clock bound would fail on a loaded machine.
    assert sum(p.numel() for p in builder().parameters()) < 250_000
