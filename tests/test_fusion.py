"""HybridEncoder and CrossAttentionFusion on tiny real DINOv2 (transformers, timm) and Qwen2.5-VL backbones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from foresight_models import testing
from foresight_models.models.fusion import CrossAttentionFusion, HybridEncoder

SIZE = 56  # DINOv2 grid 4x4 (patch 14); Qwen grid 4x4 patches -> 2x2 merged tokens


def make_encoder(library: str = "transformers", *, semantic_source: str = "llm", **kwargs) -> HybridEncoder:
    dino = testing.tiny_dinov2() if library == "transformers" else testing.tiny_timm_dinov2()
    options = dict(dino_image_size=SIZE, qwen_image_size=SIZE, dim=24, depth=2, heads=2, dim_head=8)
    options.update(kwargs)
    return HybridEncoder(dino=dino, vlm=testing.tiny_qwen2_5_vl(), semantic_source=semantic_source, **options)


def randomize_gates(encoder: HybridEncoder, value: float = 0.5) -> None:
    with torch.no_grad():
        for block in encoder.fusion.blocks:
            block.attn_gate.fill_(value)
            block.ff_gate.fill_(value)


def direct_dino(encoder: HybridEncoder, pixels: torch.Tensor) -> torch.Tensor:
    if hasattr(encoder.dino, "forward_features"):
        return encoder.dino.forward_features(pixels)[:, encoder.dino.num_prefix_tokens :]
    return encoder.dino(pixel_values=pixels).last_hidden_state[:, 1:]


@pytest.mark.parametrize("library", ["transformers", "timm"])
def test_shapes_for_images_clips_and_batches(library):
    encoder = make_encoder(library)
    clips = encoder(torch.rand(2, 3, 3, 60, 70))
    assert clips.fused_tokens.shape == (2, 3, 16, 24)
    assert clips.spatial_tokens.shape == (2, 3, 16, 32)
    assert clips.semantic_tokens.shape == (2, 3, 4, 32)
    assert clips.grid == (4, 4) and clips.semantic_grid == (2, 2)

    images = encoder(torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8))
    assert images.fused_tokens.shape == (2, 16, 24)
    assert images.semantic_tokens.shape == (2, 4, 32)

    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    assert encoder(pil).fused_tokens.shape == (1, 16, 24)
    assert encoder([pil, pil]).fused_tokens.shape == (1, 2, 16, 24)  # a list of frames is one clip
    two_clips = [np.zeros((2, 40, 50, 3), np.uint8), [pil, pil]]
    assert encoder(two_clips).fused_tokens.shape == (2, 2, 16, 24)


@pytest.mark.parametrize("library", ["transformers", "timm"])
def test_dino_branch_equals_direct_backbone_call(library):
    encoder = make_encoder(library)
    frames = torch.rand(2, 2, 3, SIZE, SIZE)
    inputs = encoder.preprocess(frames)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(inputs.dino_pixels, (frames.flatten(0, 1) - mean) / std)

    out = encoder(inputs)
    expected = direct_dino(encoder, inputs.dino_pixels).unflatten(0, (2, 2))
    torch.testing.assert_close(out.spatial_tokens, expected, rtol=0, atol=0)


def test_untrained_fusion_returns_projected_spatial_tokens():
    encoder = make_encoder()
    out = encoder(torch.rand(2, 2, 3, SIZE, SIZE))
    assert torch.equal(out.fused_tokens, encoder.fusion.proj_in(out.spatial_tokens))
    randomize_gates(encoder)
    assert not torch.allclose(encoder(torch.rand(1, 3, SIZE, SIZE)).fused_tokens, out.fused_tokens[:1, 0])


def test_qwen_pixels_match_the_upstream_processor():
    encoder = make_encoder(semantic_source="vision")
    images = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    processor = testing.tiny_qwen2_5_vl_processor().image_processor
    reference = processor(images=list(images), return_tensors="pt")
    inputs = encoder.preprocess(images)
    assert torch.equal(inputs.qwen_grid_thw, reference["image_grid_thw"])
    torch.testing.assert_close(inputs.qwen_pixel_values, reference["pixel_values"], rtol=0, atol=1e-5)

    # vision mode: the tokens are the vision tower's output after the merger
    out = encoder(images)
    vlm = encoder.vlm
    expected = vlm.get_image_features(reference["pixel_values"], reference["image_grid_thw"]).pooler_output
    torch.testing.assert_close(out.semantic_tokens, torch.stack(expected), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [-1, 1])
def test_llm_tokens_match_a_processor_prompt(layer):
    encoder = make_encoder(semantic_layer=layer)
    image = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    processor = testing.tiny_qwen2_5_vl_processor()
    batch = processor(
        text=["<|vision_start|><|image_pad|><|vision_end|>"],
        images=[image],
        return_tensors="pt",
        return_mm_token_type_ids=True,
    )
    with torch.no_grad():
        hidden = encoder.vlm.model(**batch, output_hidden_states=True).hidden_states[layer]
    expected = hidden[batch["input_ids"] == encoder.vlm.config.image_token_id]
    out = encoder(image)
    torch.testing.assert_close(out.semantic_tokens[0], expected, rtol=1e-4, atol=1e-5)


def test_clip_frames_are_causal_in_the_llm_and_batch_elements_independent():
    encoder = make_encoder()
    randomize_gates(encoder)
    clips = torch.rand(2, 3, 3, SIZE, SIZE)
    out = encoder(clips)
    first_alone = encoder(clips[:, 0])  # (b, c, h, w): single images
    torch.testing.assert_close(out.semantic_tokens[:, 0], first_alone.semantic_tokens, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.fused_tokens[:, 0], first_alone.fused_tokens, rtol=1e-4, atol=1e-5)
    second_clip = encoder(clips[1:])
    torch.testing.assert_close(out.fused_tokens[1:], second_clip.fused_tokens, rtol=1e-4, atol=1e-5)
    # later frames see earlier ones, so they differ from the same frame encoded alone
    assert not torch.allclose(out.semantic_tokens[:, 1], encoder(clips[:, 1]).semantic_tokens, atol=1e-4)


@pytest.mark.parametrize("library", ["transformers", "timm"])
def test_save_load_round_trip_writes_only_fusion_weights(tmp_path, library):
    encoder = make_encoder(library, vlm_name_or_path="Qwen/Qwen2.5-VL-7B-Instruct")
    randomize_gates(encoder, 0.3)
    encoder.save_pretrained(tmp_path / "enc")
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]
    state = load_file(tmp_path / "enc" / "diffusion_pytorch_model.safetensors")
    assert set(state) == {f"fusion.{k}" for k in encoder.fusion.state_dict()}
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert config["vlm_name_or_path"] == "Qwen/Qwen2.5-VL-7B-Instruct" and config["dino_library"] == library

    loaded = HybridEncoder.from_pretrained(tmp_path / "enc", dino=encoder.dino, vlm=encoder.vlm)
    assert loaded.dino is encoder.dino and loaded.vlm is encoder.vlm
    frames = torch.rand(1, 2, 3, SIZE, SIZE)
    assert torch.equal(loaded(frames).fused_tokens, encoder(frames).fused_tokens)


def test_from_pretrained_loads_backbones_named_in_the_config(tmp_path):
    dino, vlm = testing.tiny_dinov2(), testing.tiny_qwen2_5_vl()
    dino.save_pretrained(tmp_path / "dino")
    vlm.save_pretrained(tmp_path / "vlm")
    encoder = HybridEncoder(
        dino=dino,
        vlm=vlm,
        dino_name_or_path=str(tmp_path / "dino"),
        vlm_name_or_path=str(tmp_path / "vlm"),
        dino_image_size=SIZE,
        qwen_image_size=SIZE,
        dim=24,
        depth=1,
        heads=2,
        dim_head=8,
    )
    randomize_gates(encoder)
    encoder.save_pretrained(tmp_path / "enc")
    loaded = HybridEncoder.from_pretrained(tmp_path / "enc", local_files_only=True, low_cpu_mem_usage=True)
    frames = torch.rand(1, 2, 3, SIZE, SIZE)
    torch.testing.assert_close(loaded(frames).fused_tokens, encoder(frames).fused_tokens, rtol=0, atol=0)

    anonymous = make_encoder()
    anonymous.save_pretrained(tmp_path / "anon")
    with pytest.raises(ValueError, match="dino"):
        HybridEncoder.from_pretrained(tmp_path / "anon")


def test_from_pretrained_loads_a_timm_dino_named_in_the_config(tmp_path):
    import timm
    from timm.models import save_for_hf

    args = dict(embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0, img_size=SIZE, num_classes=0)
    dino = timm.create_model("vit_small_patch14_dinov2", dynamic_img_size=True, **args).eval()
    vlm = testing.tiny_qwen2_5_vl()
    options = dict(dino_image_size=SIZE, qwen_image_size=SIZE, dim=24, depth=1, heads=2, dim_head=8)
    # by default the config records the timm name of the model's Hub weights, which timm.create_model accepts
    recorded = HybridEncoder(dino=dino, vlm=vlm, **options).config.dino_name_or_path
    assert recorded == "hf-hub:timm/vit_small_patch14_dinov2.lvd142m"

    save_for_hf(dino, tmp_path / "dino", model_args=args, safe_serialization=True)
    encoder = HybridEncoder(dino=dino, vlm=vlm, dino_name_or_path=str(tmp_path / "dino"), **options)
    randomize_gates(encoder)
    encoder.save_pretrained(tmp_path / "enc")
    loaded = HybridEncoder.from_pretrained(tmp_path / "enc", vlm=vlm)
    assert loaded.config.dino_library == "timm" and loaded.dino is not dino
    frames = torch.rand(1, 2, 3, SIZE, SIZE)
    torch.testing.assert_close(loaded(frames).fused_tokens, encoder(frames).fused_tokens, rtol=0, atol=0)


def test_gradients_reach_the_fusion_and_no_backbone_parameter():
    encoder = make_encoder().train()
    assert not encoder.dino.training and not encoder.vlm.training and encoder.fusion.training
    randomize_gates(encoder)
    encoder(torch.rand(2, 2, 3, SIZE, SIZE)).fused_tokens.square().mean().backward()
    for name, param in encoder.fusion.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    for module in (encoder.dino, encoder.vlm):
        assert all(p.grad is None and not p.requires_grad for p in module.parameters())


def test_bfloat16_backbones_and_fusion():
    encoder = make_encoder(semantic_source="vision")
    randomize_gates(encoder)
    frames = torch.rand(1, 2, 3, SIZE, SIZE)
    reference = encoder(frames).fused_tokens
    out = encoder.to(torch.bfloat16)(frames)
    assert out.fused_tokens.dtype == torch.bfloat16 and out.spatial_tokens.dtype == torch.bfloat16
    torch.testing.assert_close(out.fused_tokens.float(), reference, rtol=0.1, atol=0.1)


def test_standalone_fusion_round_trip_and_shape_errors(tmp_path):
    fusion = CrossAttentionFusion(spatial_dim=8, semantic_dim=12, dim=16, depth=1, heads=2, dim_head=4)
    spatial, semantic = torch.randn(2, 9, 8), torch.randn(2, 5, 12)
    torch.testing.assert_close(fusion(spatial, semantic), fusion.proj_in(spatial), rtol=0, atol=0)
    with torch.no_grad():
        fusion.blocks[0].attn_gate.fill_(1.0)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    fusion.save_pretrained(tmp_path)
    loaded = CrossAttentionFusion.from_pretrained(tmp_path)
    assert torch.equal(loaded(spatial, semantic, mask), fusion(spatial, semantic, mask))
    # masked keys do not matter
    changed = semantic.clone()
    changed[1, 2:] = 100.0
    torch.testing.assert_close(fusion(spatial, changed, mask), fusion(spatial, semantic, mask))

    with pytest.raises(ValueError, match="spatial_tokens"):
        fusion(torch.randn(2, 9, 7), semantic)
    with pytest.raises(ValueError, match="semantic_tokens"):
        fusion(spatial, torch.randn(2, 5, 11))
    with pytest.raises(ValueError, match="batch size"):
        fusion(spatial, semantic[:1])
    with pytest.raises(ValueError, match="semantic_source: expected one of 'vision', 'llm', got 'text'"):
        CrossAttentionFusion(spatial_dim=8, semantic_dim=8, semantic_source="text")
    with pytest.raises(TypeError, match=r"semantic_layer \(an index into the LLM hidden states\).*got '-1'"):
        CrossAttentionFusion(spatial_dim=8, semantic_dim=8, semantic_layer="-1")


def test_bad_inputs_raise_clear_errors():
    encoder = make_encoder()
    with pytest.raises(ValueError, match="images.*4"):
        encoder(torch.rand(1, 4, SIZE, SIZE))
    with pytest.raises(ValueError, match="images.*empty"):
        encoder(torch.rand(0, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"frame counts \[3, 2\]"):
        encoder([torch.rand(3, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)])
    with pytest.raises(ValueError, match=r"images.*\[0, 1\]"):
        encoder(torch.full((1, 3, SIZE, SIZE), 2.0))

    vlm = testing.tiny_qwen2_5_vl()
    with pytest.raises(TypeError, match="vlm.*Qwen2_5_VLTextModel.*no vision tower"):
        HybridEncoder(dino=testing.tiny_dinov2(), vlm=vlm.model.language_model)
    with pytest.raises(ValueError, match="semantic_source='llm'"):
        HybridEncoder(dino=testing.tiny_dinov2(), vlm=vlm.model.visual, dino_image_size=SIZE, qwen_image_size=SIZE)
    vision_only = HybridEncoder(
        dino=testing.tiny_dinov2(),
        vlm=vlm.model.visual,
        semantic_source="vision",
        dino_image_size=SIZE,
        qwen_image_size=SIZE,
        dim=16,
        depth=1,
        heads=2,
        dim_head=8,
    )
    assert vision_only(torch.rand(1, 3, SIZE, SIZE)).semantic_tokens.shape == (1, 4, 32)
    with pytest.raises(TypeError, match="dino"):
        HybridEncoder(dino=torch.nn.Linear(2, 2), vlm=vlm)
    with pytest.raises(ValueError, match="dino_image_size"):
        make_encoder(dino_image_size=50)
    with pytest.raises(ValueError, match="qwen_image_size"):
        make_encoder(qwen_image_size=42)
    with pytest.raises(ValueError, match="semantic_layer"):
        make_encoder(semantic_layer=3)
    with pytest.raises(ValueError, match="semantic_layer=1 selects an LLM layer"):
        make_encoder(semantic_source="vision", semantic_layer=1)
    with pytest.raises(TypeError, match="semantic_layer .*got True"):
        make_encoder(semantic_layer=True)
    with pytest.raises(TypeError, match=r"dino_image_size\[0\] \(height\): expected an int, got 28.0"):
        make_encoder(dino_image_size=(28.0, 28))
    with pytest.raises(TypeError, match="qwen_image_size: expected an int .* or a \\(height, width\\) pair"):
        make_encoder(qwen_image_size="28")
    with pytest.raises(TypeError, match="unexpected keyword"):
        HybridEncoder.from_pretrained("unused", dino=None, vlm=None, revison="main")
    with pytest.raises(ValueError, match="quantization_config is not supported"):
        HybridEncoder.from_pretrained("unused", quantization_config={"load_in_8bit": True})
