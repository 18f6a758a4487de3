"""A saved HybridEncoder names its backbones by absolute path, so it reloads from any working directory."""

from __future__ import annotations

import json

import torch
from transformers import Dinov2Model, Qwen2_5_VLForConditionalGeneration

from foresight_models import testing
from foresight_models.models.fusion import HybridEncoder


def test_saved_folder_reloads_from_another_working_directory(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    testing.tiny_dinov2().save_pretrained("dino")
    testing.tiny_qwen2_5_vl().save_pretrained("vlm")
    dino = Dinov2Model.from_pretrained("dino")  # remembers the relative name "dino"
    vlm = Qwen2_5_VLForConditionalGeneration.from_pretrained("vlm")
    options = dict(dino_image_size=56, qwen_image_size=56, dim=24, depth=1, heads=2, dim_head=8)
    encoder = HybridEncoder(dino=dino, vlm=vlm, **options).eval()
    with torch.no_grad():
        for block in encoder.fusion.blocks:  # non-zero gates, so the fusion weights matter
            block.attn_gate.fill_(0.5)
            block.ff_gate.fill_(0.5)
    encoder.save_pretrained("enc")
    config = json.loads((work / "enc" / "config.json").read_text())
    assert config["dino_name_or_path"] == str(work / "dino") and config["vlm_name_or_path"] == str(work / "vlm")

    monkeypatch.chdir(elsewhere)
    loaded = HybridEncoder.from_pretrained(work / "enc", local_files_only=True)
    frames = torch.rand(1, 2, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded(frames).fused_tokens, encoder(frames).fused_tokens, rtol=0, atol=0)


def test_hub_ids_are_recorded_as_given():
    encoder = HybridEncoder(
        dino=testing.tiny_dinov2(), vlm=testing.tiny_qwen2_5_vl(), dino_name_or_path="facebook/dinov2-large",
        vlm_name_or_path="Qwen/Qwen2.5-VL-7B-Instruct", dino_image_size=56, qwen_image_size=56, dim=24, depth=1,
        heads=2, dim_head=8,
    )  # fmt: skip
    assert encoder.config.dino_name_or_path == "facebook/dinov2-large"
    assert encoder.config.vlm_name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
