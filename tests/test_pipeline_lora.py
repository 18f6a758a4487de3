"""LoRA weights on the pipeline's transformer: diffusers' ``LTXVideoLoraLoaderMixin`` API on ``ForesightPipeline``."""

from __future__ import annotations

import pytest
import torch

from foresight_models import testing
from foresight_models.training.ltx import build_ltx_task

FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2)


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory):
    """A LoRA of the tiny LTX transformer written by the library's training task (random, non-zero weights)."""
    task = build_ltx_task({"model": "tiny", "tiny": {"num_layers": 1}, "target": "lora", "lora": {"rank": 2}})
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in task.transformer.named_parameters():
            if "lora_" in name:  # lora_B starts at zero (an untrained LoRA changes nothing)
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    directory = tmp_path_factory.mktemp("lora")
    task.save_lora(directory)
    return directory


def frames(pipe, scene, **kwargs):
    return pipe(scene, prompt="go", seed=0, output_type="pt", **FAST, **kwargs).frames


def test_lora_load_set_fuse_and_unload_restore_exactly(lora_dir):
    scene = testing.demo_image(64)
    pipe = testing.tiny_pipeline(vlm=False)
    base = frames(pipe, scene)
    pipe.load_lora_weights(lora_dir, adapter_name="motion")
    assert pipe.get_active_adapters() == ["motion"]
    full = frames(pipe, scene)
    assert not torch.allclose(full, base, atol=1e-4)
    pipe.set_adapters("motion", 0.25)
    quarter = frames(pipe, scene)
    assert not torch.allclose(quarter, full, atol=1e-4) and not torch.allclose(quarter, base, atol=1e-4)
    pipe.set_adapters("motion", 1.0)
    torch.testing.assert_close(frames(pipe, scene), full)
    pipe.disable_lora()
    torch.testing.assert_close(frames(pipe, scene), base)
    pipe.enable_lora()
    pipe.unload_lora_weights()
    assert pipe.get_active_adapters() == []
    assert torch.equal(frames(pipe, scene), base)


def test_fused_lora_gives_the_adapter_output_and_unfuses(lora_dir):
    scene = testing.demo_image(64)
    pipe = testing.tiny_pipeline(vlm=False)
    base = frames(pipe, scene)
    pipe.load_lora_weights(lora_dir, adapter_name="motion")
    full = frames(pipe, scene)
    pipe.fuse_lora()
    torch.testing.assert_close(frames(pipe, scene), full, atol=1e-4, rtol=1e-4)
    pipe.unfuse_lora()
    pipe.unload_lora_weights()
    torch.testing.assert_close(frames(pipe, scene), base, atol=1e-5, rtol=1e-5)  # W + BA - BA rounds


def test_attention_kwargs_scale_the_lora(lora_dir):
    scene = testing.demo_image(64)
    pipe = testing.tiny_pipeline(vlm=False)
    base = frames(pipe, scene)
    pipe.load_lora_weights(lora_dir, adapter_name="motion")
    assert torch.equal(frames(pipe, scene, attention_kwargs={"scale": 0.0}), base)
    seen = []

    def spy(p, step, timestep, tensors):
        seen.append(p.attention_kwargs)
        return {}

    frames(pipe, scene, attention_kwargs={"scale": 0.5}, callback_on_step_end=spy)
    assert seen == [{"scale": 0.5}] * 2
