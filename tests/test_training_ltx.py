"""LTX-Video image-to-video flow matching: the objective, the training targets and their exports."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline
from diffusers.pipelines.ltx.pipeline_ltx_image2video import calculate_shift

from foresight_models import presets, testing
from foresight_models.data.synthetic import SyntheticMotion
from foresight_models.training.flow_matching import (
    encode_ltx_video,
    i2v_conditioning_mask,
    ltx_i2v_flow_matching_loss,
    shift_flow_sigmas,
)
from foresight_models.training.ltx import LTXFlowMatchingTask, build_ltx_task

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADAPTER = {"kind": "query", "input": "latents", "num_tokens": 4, "dim": 32, "depth": 1, "heads": 4, "dim_head": 8}


def clips(num: int = 2, frames: int = 9, size: int = 32) -> dict:
    items = [SyntheticMotion(num_clips=num, frames=frames, size=size, seed=3)[i] for i in range(num)]
    return {"frames": torch.stack([item["frames"] for item in items]), "label": [item["label"] for item in items]}


def pipeline_with(transformer_seed: int = 0, num_layers: int = 2) -> LTXImageToVideoPipeline:
    components = testing.tiny_ltx_components(0)
    components["transformer"] = testing.tiny_ltx_transformer(transformer_seed, num_layers=num_layers)
    pipe = LTXImageToVideoPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe: LTXImageToVideoPipeline) -> torch.Tensor:
    image = testing.demo_image(32)
    return pipe(
        image=image,
        prompt="a ball moves",
        height=32,
        width=32,
        num_frames=9,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).frames


# --------------------------------------------------------------------------------------------------
# the objective
# --------------------------------------------------------------------------------------------------


def test_conditioning_frame_target_does_not_change_the_loss_and_loss_matches_reference():
    transformer = testing.tiny_ltx_transformer(0, num_layers=2)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 8, 3, 4, 4, generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    sigmas = torch.tensor([0.3, 0.8])
    kwargs = {"spatial_compression_ratio": 4, "temporal_compression_ratio": 4, "normalize": False, "sigmas": sigmas}
    with torch.no_grad():
        base = ltx_i2v_flow_matching_loss(transformer, latents, noise=noise, **kwargs)
        other = noise.clone()
        other[:, :, 0] = torch.randn(other[:, :, 0].shape, generator=generator) * 5  # target of frame 0 only
        same = ltx_i2v_flow_matching_loss(transformer, latents, noise=other, **kwargs)
        later = noise.clone()
        later[:, :, 1] += 1.0
        changed = ltx_i2v_flow_matching_loss(transformer, latents, noise=later, **kwargs)

    assert not torch.equal(base.target, same.target)
    torch.testing.assert_close(same.loss, base.loss, rtol=0, atol=0)
    assert abs(float(changed.loss) - float(base.loss)) > 1e-3

    # reference: unpack the prediction, MSE against noise - x0 on latent frames 1.. only
    prediction = LTXImageToVideoPipeline._unpack_latents(base.prediction, 3, 4, 4)
    s = sigmas.view(2, 1, 1, 1, 1)
    expected = (prediction[:, :, 1:] - (noise - latents)[:, :, 1:]).pow(2).mean()
    torch.testing.assert_close(base.loss, expected)
    # frame 0 enters clean, the others at (1 - sigma) x0 + sigma noise
    noisy = LTXImageToVideoPipeline._unpack_latents(base.noisy_latents, 3, 4, 4)
    torch.testing.assert_close(noisy[:, :, 0], latents[:, :, 0])
    torch.testing.assert_close(noisy[:, :, 1:], ((1 - s) * latents + s * noise)[:, :, 1:])


def test_timestep_mask_matches_the_image_to_video_pipeline():
    pipe = testing.tiny_ltx_pipeline(0)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    _, pipeline_mask = pipe.prepare_latents(
        image, 2, 8, 32, 32, 9, torch.float32, torch.device("cpu"), torch.Generator().manual_seed(0)
    )
    mask = i2v_conditioning_mask(2, 3, 8, 8)
    torch.testing.assert_close(mask, pipeline_mask, rtol=0, atol=0)

    sigmas = torch.tensor([0.25, 0.5])
    latents = torch.randn(2, 8, 3, 8, 8)
    with torch.no_grad():
        out = ltx_i2v_flow_matching_loss(
            pipe.transformer, latents, vae=pipe.vae, scheduler=pipe.scheduler, sigmas=sigmas, normalize=True
        )
    # what __call__ gives the transformer at the timestep t = sigma * num_train_timesteps
    t = sigmas * pipe.scheduler.config.num_train_timesteps
    torch.testing.assert_close(out.timestep, t.unsqueeze(-1) * (1 - pipeline_mask))
    torch.testing.assert_close(out.conditioning_mask, pipeline_mask)


@pytest.mark.parametrize(
    "config",
    [
        {"use_dynamic_shifting": True, "base_shift": 0.95, "max_shift": 2.05, "base_image_seq_len": 1024},
        {"shift": 3.0},
    ],
)
def test_sigma_shift_matches_the_scheduler_schedule(config):
    scheduler = FlowMatchEulerDiscreteScheduler(**config)
    raw = np.array([0.9, 0.6, 0.3, 0.1], dtype=np.float32)
    sequence_length = 13 * 15 * 22
    mu = calculate_shift(
        sequence_length,
        scheduler.config.base_image_seq_len,
        scheduler.config.max_image_seq_len,
        scheduler.config.base_shift,
        scheduler.config.max_shift,
    )
    scheduler.set_timesteps(sigmas=raw, mu=mu)
    shifted = shift_flow_sigmas(torch.from_numpy(raw), scheduler, video_sequence_length=sequence_length)
    torch.testing.assert_close(shifted, scheduler.sigmas[:-1])
    assert not torch.allclose(shifted, torch.from_numpy(raw))


def test_latents_cached_with_cache_features_give_the_loss_of_the_raw_frames(tmp_path):
    from foresight_models.training import CachedFeatures, LTXVAELatents, cache_features
    from foresight_models.training.flow_matching import normalize_ltx_latents

    task = build_ltx_task({"model": "tiny", "target": "lora", "lora": {"rank": 2}})
    # statistics far from (0, 1, 1): normalising twice, or not at all, changes the loss
    channels = task.vae.latents_mean.numel()
    task.vae.latents_mean.copy_(torch.linspace(-0.5, 0.5, channels))
    task.vae.latents_std.copy_(torch.linspace(0.5, 2.0, channels))
    task.vae.register_to_config(scaling_factor=0.7)
    dataset = SyntheticMotion(num_clips=3, frames=9, size=32, seed=3)
    cache_features(LTXVAELatents(task.vae), dataset, tmp_path / "latents", batch_size=2, shard_size=2)
    cached = CachedFeatures(tmp_path / "latents")
    assert len(cached) == 3
    from_cache = {"latents": torch.stack([cached[i]["latents"] for i in range(3)])}
    live = {"frames": torch.stack([dataset[i]["frames"] for i in range(3)])}
    raw = encode_ltx_video(task.vae, live["frames"])
    torch.testing.assert_close(from_cache["latents"], normalize_ltx_latents(raw, task.vae), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.manual_seed(5)
        loss_frames = task.loss(live)["loss"]
        torch.manual_seed(5)
        loss_cache = task.loss(from_cache)["loss"]
        torch.manual_seed(5)
        loss_raw = task.loss({"latents": raw})["loss"]
    torch.testing.assert_close(loss_cache, loss_frames, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(loss_raw, loss_frames, rtol=1e-3)  # the cache's convention matters


def test_builds_from_a_diffusers_ltx_folder_like_from_the_tiny_components(tmp_path):
    testing.tiny_ltx_pipeline(0).save_pretrained(tmp_path)
    section = {"prompt": "label", "lora": {"rank": 2}}
    loaded = build_ltx_task({"model": str(tmp_path), "local_files_only": True, **section})
    built = build_ltx_task({"model": "tiny", "tiny": {"num_layers": 1}, **section})
    batch = clips()
    with torch.no_grad():
        torch.manual_seed(0)
        from_folder = loaded.loss(batch)["loss"]
        torch.manual_seed(0)
        from_tiny = built.loss(batch)["loss"]
    torch.testing.assert_close(from_folder, from_tiny)
    with pytest.raises(ValueError, match="cannot load the LTX-Video transformer from .*missing"):
        build_ltx_task({"model": str(tmp_path / "missing"), "local_files_only": True})


# --------------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------------


def train(task: LTXFlowMatchingTask, batch: dict, steps: int, lr: float = 1e-2) -> None:
    optimizer = torch.optim.AdamW(list(task.trainable_parameters()), lr=lr)
    task.train()
    torch.manual_seed(0)
    for _ in range(steps):
        loss = task.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.eval()


def test_lora_training_lowers_the_loss_and_exports_a_diffusers_lora(tmp_path):
    task = build_ltx_task({"model": "tiny", "target": "lora", "prompt": "label", "lora": {"rank": 4, "alpha": 8}})
    batch = clips(3)
    before = task.evaluate(batch)["loss"]
    train(task, batch, steps=15)
    after = task.evaluate(batch)["loss"]
    assert after < 0.9 * before, (before, after)

    task.save_pretrained(tmp_path)
    assert (tmp_path / "pytorch_lora_weights.safetensors").is_file()
    pipe = pipeline_with()  # the same base weights as the task's (seed 0, two blocks)
    base = generate(pipe)
    pipe.load_lora_weights(tmp_path, adapter_name="motion")
    with_lora = generate(pipe)
    assert (with_lora - base).abs().max() > 1e-3
    pipe.set_adapters(["motion"], [0.0])
    torch.testing.assert_close(generate(pipe), base)
    # and the LoRA reproduces the trained transformer's prediction
    pipe.set_adapters(["motion"], [1.0])
    latents = torch.randn(1, 8, 3, 8, 8)
    kwargs = {
        "vae": pipe.vae,
        "scheduler": pipe.scheduler,
        "sigmas": torch.tensor([0.5]),
        "noise": torch.randn(latents.shape),
    }
    with torch.no_grad():
        loaded = ltx_i2v_flow_matching_loss(pipe.transformer, latents, **kwargs).prediction
        trained = ltx_i2v_flow_matching_loss(task.transformer, latents, **kwargs).prediction
    torch.testing.assert_close(loaded, trained)


def test_adapter_training_updates_only_the_adapter_and_hook_projections():
    task = build_ltx_task({"model": "tiny", "target": "adapter", "adapter": ADAPTER})
    frozen = {name: tensor.clone() for name, tensor in task.transformer.state_dict().items()}
    vae = {name: tensor.clone() for name, tensor in task.vae.state_dict().items()}
    trained = {
        f"{key}.{name}": p.detach().clone()
        for key in ("adapter", "conditioning")
        for name, p in task.trainable[key].named_parameters()
    }
    expected_ids = {id(p) for key in ("adapter", "conditioning") for p in task.trainable[key].parameters()}
    assert {id(p) for p in task.trainable_parameters()} == expected_ids

    batch = clips()
    before = task.evaluate(batch)["loss"]
    train(task, batch, steps=3, lr=1e-3)
    assert task.evaluate(batch)["loss"] != before

    task.remove_conditioning()
    for name, tensor in task.transformer.state_dict().items():
        assert torch.equal(tensor, frozen[name]), name
    assert set(task.transformer.state_dict()) == set(frozen)
    for name, tensor in task.vae.state_dict().items():
        assert torch.equal(tensor, vae[name]), name
    changed = {
        key.split(".")[0]
        for key in trained
        if not torch.equal(
            dict(task.trainable[key.split(".")[0]].named_parameters())[key.split(".", 1)[1]], trained[key]
        )
    }
    assert changed == {"adapter", "conditioning"}


def test_both_and_full_targets_train_what_they_name(tmp_path):
    both = build_ltx_task({"model": "tiny", "target": "both", "adapter": ADAPTER, "lora": {"rank": 2}})
    assert set(both.trainable) == {"adapter", "conditioning", "lora"}
    lora_names = set(both.trainable["lora"].state_dict())
    assert lora_names and all("lora_A" in name or "lora_B" in name for name in lora_names)
    both.save_pretrained(tmp_path / "both")
    assert {p.name for p in (tmp_path / "both").iterdir()} == {
        "adapter",
        "conditioning",
        "pytorch_lora_weights.safetensors",
    }

    full = build_ltx_task({"model": "tiny", "target": "full", "tiny": {"num_layers": 1}})
    n_full = sum(p.numel() for p in full.trainable_parameters())
    assert n_full == sum(p.numel() for p in full.transformer.parameters())


def test_the_text_encoder_trains_when_asked_and_is_saved(tmp_path):
    section = {"model": "tiny", "target": "full", "prompt": "label", "tiny": {"num_layers": 1}}
    frozen = build_ltx_task(section)
    assert "text_encoder" not in frozen.trainable
    assert not any(p.requires_grad for p in frozen.text_encoder.parameters())

    task = build_ltx_task({**section, "train_text_encoder": True})
    t5 = task.text_encoder
    assert task.trainable["text_encoder"] is t5
    trained = {id(p) for p in task.trainable_parameters()}
    assert all(id(p) in trained for p in t5.parameters())
    torch.manual_seed(0)
    task.loss(clips())["loss"].backward()
    assert sum(float(p.grad.abs().sum()) for p in t5.parameters() if p.grad is not None) > 0
    task.train()
    assert not t5.training  # no dropout in T5, trained or not

    task.save_pretrained(tmp_path)
    from transformers import T5EncoderModel

    saved = T5EncoderModel.from_pretrained(tmp_path / "text_encoder")
    for key, value in t5.state_dict().items():
        assert torch.equal(saved.state_dict()[key], value), key
    # a later run starts from the trained T5 (its folder, or the run folder holding it)
    for location in (tmp_path / "text_encoder", tmp_path):
        resumed = build_ltx_task({**section, "text_encoder": str(location)}).text_encoder
        for key, value in t5.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key
    with pytest.raises(ValueError, match="task.text_encoder: cannot load a T5 encoder from .*nowhere"):
        build_ltx_task({**section, "text_encoder": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match="task.text_encoder: only with prompt 'label'"):
        build_ltx_task({"model": "tiny", "target": "full", "text_encoder": str(tmp_path)})
    with pytest.raises(ValueError, match="task.train_text_encoder: only with prompt 'label'"):
        build_ltx_task({"model": "tiny", "target": "full", "train_text_encoder": True})
    with pytest.raises(TypeError, match="task.train_text_encoder"):
        build_ltx_task({**section, "train_text_encoder": "yes"})


def test_empty_prompts_replace_the_drawn_labels_in_training_only():
    section = {"model": "tiny", "target": "full", "prompt": "label", "tiny": {"num_layers": 1}}
    task = build_ltx_task({**section, "proportion_empty_prompts": 0.5})
    labels = [f"Moving red circle {i}" for i in range(8)]
    # the reference: the stock pipeline's T5 encoding, whose negative prompt is ""
    stock = LTXImageToVideoPipeline(
        scheduler=None, vae=None, text_encoder=task.text_encoder, tokenizer=task.tokenizer, transformer=None
    )

    def encode(prompts):
        embeds, mask, _, _ = stock.encode_prompt(
            prompt=prompts, do_classifier_free_guidance=False, max_sequence_length=task.max_sequence_length
        )
        return embeds, mask

    torch.manual_seed(7)
    dropped = (torch.rand(8) < 0.5).tolist()
    assert 0 < sum(dropped) < 8
    expected = encode(["" if drop else label for label, drop in zip(labels, dropped)])
    task.train()
    torch.manual_seed(7)
    with torch.no_grad():
        embeds, mask = task.prompt_embeddings({"label": labels}, 8)
    torch.testing.assert_close(embeds, expected[0])
    assert torch.equal(mask, expected[1])

    task.eval()  # evaluation keeps every label
    with torch.no_grad():
        embeds, mask = task.prompt_embeddings({"label": labels}, 8)
    torch.testing.assert_close(embeds, encode(labels)[0])

    with pytest.raises(ValueError, match=r"task.proportion_empty_prompts: expected .*1.5"):
        build_ltx_task({**section, "proportion_empty_prompts": 1.5})
    with pytest.raises(ValueError, match="task.proportion_empty_prompts: only with prompt 'label'"):
        build_ltx_task({"model": "tiny", "target": "full", "proportion_empty_prompts": 0.1})


@pytest.mark.parametrize("target", ["adapter", "lora"])
def test_gradient_checkpointing_gives_the_same_gradients(target):
    batch = clips()
    grads = []
    for checkpointing in (False, True):
        section = {"model": "tiny", "target": target, "gradient_checkpointing": checkpointing}
        if target == "adapter":
            section["adapter"] = ADAPTER
        task = build_ltx_task(section).train()
        assert task.transformer.gradient_checkpointing is checkpointing
        torch.manual_seed(1)
        task.loss(batch)["loss"].backward()
        grads.append(torch.cat([p.grad.flatten() for p in task.trainable_parameters()]))
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0])


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------


def test_frame_counts_and_sizes_the_vae_cannot_encode_are_refused():
    task = build_ltx_task({"model": "tiny", "target": "lora", "lora": {"rank": 2}})
    with pytest.raises(ValueError, match=r"4k \+ 1 frames.*got 8 frames"):
        task.loss({"frames": torch.zeros(1, 8, 3, 32, 32, dtype=torch.uint8)})
    with pytest.raises(ValueError, match="multiple of 4, got width 30"):
        task.loss({"frames": torch.zeros(1, 9, 3, 32, 30, dtype=torch.uint8)})
    real_vae = presets.build("ltx-video-vae", device="meta")
    with pytest.raises(ValueError, match=r"8k \+ 1 frames.*got 12 frames"):
        encode_ltx_video(real_vae, torch.zeros(1, 12, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="multiple of 32, got height 48"):
        encode_ltx_video(real_vae, torch.zeros(1, 9, 3, 48, 64, dtype=torch.uint8))


def test_bad_task_sections_are_refused_before_building():
    with pytest.raises(ValueError, match="'to_qq' matches no module"):
        build_ltx_task({"model": "tiny", "target": "lora", "lora": {"target_modules": ["to_q", "to_qq"]}})
    with pytest.raises(ValueError, match="'attn9.*' matches no module"):
        build_ltx_task({"model": "tiny", "target": "lora", "lora": {"target_modules": "attn9.*"}})
    with pytest.raises(ValueError, match="task.lora.ranks: unknown key 'ranks'; allowed keys: rank"):
        build_ltx_task({"model": "tiny", "lora": {"ranks": 4}})
    with pytest.raises(ValueError, match="unknown key.*'lr'"):
        build_ltx_task({"model": "tiny", "lr": 1e-3})
    with pytest.raises(ValueError, match="task.target: expected one of.*got 'lorra'"):
        build_ltx_task({"model": "tiny", "target": "lorra"})
    with pytest.raises(ValueError, match="task.adapter: required"):
        build_ltx_task({"model": "tiny", "target": "adapter"})
    with pytest.raises(ValueError, match="task.adapter.d_in: required"):
        build_ltx_task({"model": "tiny", "target": "adapter", "adapter": {"kind": "query"}})
    with pytest.raises(ValueError, match="task.adapter.width: unknown key 'width'; allowed keys: kind, input, d_in"):
        build_ltx_task({"model": "tiny", "target": "adapter", "adapter": {**ADAPTER, "width": 3}})
    with pytest.raises(ValueError, match="task.lora: only used with target 'lora' or 'both'"):
        build_ltx_task({"model": "tiny", "target": "adapter", "adapter": ADAPTER, "lora": {"rank": 2}})
    with pytest.raises(TypeError, match="task.lora.rank"):
        build_ltx_task({"model": "tiny", "lora": {"rank": 2.5}})
    with pytest.raises(ValueError, match="task.model: required"):
        build_ltx_task({"target": "lora"})
    task = build_ltx_task({"model": "tiny", "prompt": "cached", "lora": {"rank": 2}})
    with pytest.raises(ValueError, match="'prompt_embeds'"):
        task.loss(clips(1))


# --------------------------------------------------------------------------------------------------
# benchmark smoke check
# --------------------------------------------------------------------------------------------------


def test_training_benchmark_runs_tiny():
    spec = importlib.util.spec_from_file_location("ltx_training_benchmark", ROOT / "benchmarks" / "ltx_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--tiny", "--steps", "2", "--warmup", "0"])
    rows = {(row["target"], row["gradient_checkpointing"]) for row in result["rows"]}
    assert rows == {(t, g) for t in ("lora", "adapter") for g in (False, True)}
    assert all(row["samples_per_s"] > 0 and np.isfinite(row["final_loss"]) for row in result["rows"])
