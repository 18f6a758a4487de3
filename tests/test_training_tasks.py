"""Training tasks driven by a plain AdamW loop: they learn, they supervise what they claim, build_task validates."""

import pytest
import torch
from training_tiny import train_steps

from foresight_models import testing
from foresight_models.data import SyntheticMotion, collate_clips
from foresight_models.evaluation import compare
from foresight_models.models.adapters import QueryAdapter
from foresight_models.models.frame_decoder import SimpleFrameDecoder
from foresight_models.models.fusion import HybridEncoder
from foresight_models.models.heads import QueryPredictionHead
from foresight_models.models.losses import mse_loss
from foresight_models.training.features import HybridEncoderFeatures, PatchTokenizer, PromptEmbeddings
from foresight_models.training.tasks import (
    DESCRIBE_QUESTION,
    PREDICT_QUESTION,
    TASKS,
    AdapterTask,
    FrameDecoderTask,
    FusionTask,
    HeadTask,
    VideoQADataset,
    VLMTask,
    build_task,
)


def stack(dataset):
    return collate_clips([dataset[i] for i in range(len(dataset))])


def tiny_hybrid():
    with testing.seeded(0):
        return HybridEncoder(
            dino=testing.tiny_dinov2(),
            vlm=testing.tiny_qwen2_5_vl(),
            dino_image_size=56,
            qwen_image_size=56,
            dim=32,
            depth=1,
            heads=4,
            dim_head=8,
        )


# -------------------------------------------------------------------------------------------------- heads


@pytest.mark.parametrize("seed", [0, 1])
def test_a_head_trained_on_synthetic_motion_beats_copying_the_last_frame(seed):
    """300 steps on 8x8 pixel patches of 32x32 SyntheticMotion clips; held-out clips, paired test."""
    context_frames = 3
    train_clips = stack(SyntheticMotion(256, frames=context_frames + 1, size=32, seed=seed))
    held_out = stack(SyntheticMotion(96, frames=context_frames + 1, size=32, seed=seed + 1000))
    torch.manual_seed(seed)
    head = QueryPredictionHead(
        dim=192,
        hidden_dim=64,
        depth=1,
        heads=4,
        dim_head=16,
        ff_mult=2.0,
        num_frames=3,
        max_tokens=16,
        predict_delta=True,
    )
    task = HeadTask(head, context_frames=context_frames)
    generator = torch.Generator().manual_seed(seed)
    batches = ({"frames": train_clips["frames"][torch.randint(0, 256, (16,), generator=generator)]} for _ in range(300))
    train_steps(task, batches, lr=1e-3)

    with torch.no_grad():
        context, target = task.context_and_target(held_out)
        head_error = (head(context) - target).pow(2).mean(dim=(1, 2))
        copy_error = (context[:, -1] - target).pow(2).mean(dim=(1, 2))
    result = compare(head_error, copy_error)
    assert result.mean_diff < 0 and result.ci95[1] < 0
    assert result.p_value < 0.01 and result.p_wilcoxon < 0.01
    assert result.mean_a < 0.9 * result.mean_b  # a clear margin, not a marginal win


def test_head_task_evaluate_reports_the_copy_baseline_on_the_same_batch():
    batch = stack(SyntheticMotion(4, frames=3, size=32))
    head = QueryPredictionHead(dim=192, depth=1, heads=2, dim_head=8, num_frames=2, max_tokens=16, predict_delta=True)
    task = HeadTask(head, context_frames=2)
    tokens = PatchTokenizer(patch_size=8).tokenize(batch["frames"])
    scores = task.evaluate(batch)
    assert scores["copy_loss"] == pytest.approx(mse_loss(tokens[:, 1], tokens[:, 2]).item(), rel=1e-6)
    assert scores["loss"] == pytest.approx(scores["copy_loss"], rel=1e-6)  # predict_delta starts as the copy
    assert 0 < scores["copy_cosine"] <= 1
    # the cached key is read instead of the frames, with the same loss
    assert task.loss({"tokens": tokens})["loss"].item() == pytest.approx(task.loss(batch)["loss"].item())
    with pytest.raises(ValueError, match="context_frames=2"):
        task.loss({"tokens": tokens[:, :2]})
    with pytest.raises(ValueError, match="loss: expected one of 'mse', 'cosine', 'info_nce'"):
        HeadTask(head, context_frames=2, loss="l2")


def test_head_task_on_hybrid_encoder_tokens_and_info_nce():
    encoder = tiny_hybrid()
    batch = stack(SyntheticMotion(4, frames=3, size=32))
    head = QueryPredictionHead(dim=32, depth=1, heads=4, dim_head=8, num_frames=2, max_tokens=16)
    task = HeadTask(head, encoder, context_frames=2, loss="info_nce")
    assert list(task.trainable) == ["head"]
    task.train()
    assert head.training and not encoder.fusion.training  # the frozen encoder stays deterministic
    assert set(map(id, task.trainable_parameters())) == set(map(id, head.parameters()))
    losses = train_steps(task, [batch] * 6, lr=3e-3)
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in encoder.parameters())


# -------------------------------------------------------------------------------------------------- adapters


def tiny_prompts(max_length=8):
    return PromptEmbeddings(testing.tiny_t5_encoder(), testing.tiny_t5_tokenizer(), max_length=max_length)


def test_adapter_task_regresses_the_label_prompt_embeddings():
    batch = stack(SyntheticMotion(6, frames=2, size=32))
    torch.manual_seed(0)
    adapter = QueryAdapter(d_in=192, d_out=32, num_tokens=32, dim=32, depth=1, heads=4, dim_head=8)
    prompts = tiny_prompts(32)
    task = AdapterTask(adapter, target=prompts, context_frames=1)
    embeds, mask = prompts.encode(batch["label"])
    before = task.loss(batch)["loss"].item()
    # the loss is the masked MSE over the prompt's real tokens only
    with torch.no_grad():
        tokens = PatchTokenizer().tokenize(batch["frames"])[:, :1].flatten(1, 2)
        out = adapter(tokens).tokens
    assert before == pytest.approx((out - embeds).pow(2).mean(-1)[mask].mean().item(), rel=1e-5)
    assert not mask.all() and mask.sum(1).min() > 8  # padded prompts (and one truncated): the mask matters
    losses = train_steps(task, [batch] * 40, lr=1e-2)
    assert losses[-1] < 0.7 * losses[0]
    # cached prompt embeddings give the same loss
    cached = dict(batch, prompt_embeds=embeds, prompt_attention_mask=mask)
    assert task.loss(cached)["loss"].item() == pytest.approx(task.loss(batch)["loss"].item(), rel=1e-6)
    assert set(task.evaluate(batch)) == {"loss", "pooled_cosine"}


def test_adapter_task_mse_needs_matching_lengths_and_pooled_cosine_does_not():
    batch = stack(SyntheticMotion(2, frames=2, size=32))
    adapter = QueryAdapter(d_in=192, d_out=32, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8)
    with pytest.raises(ValueError, match=r"k=4 tokens \(num_tokens\) and the prompts have l=8"):
        AdapterTask(adapter, target=tiny_prompts(8)).loss(batch)
    loss = AdapterTask(adapter, target=tiny_prompts(8), loss="pooled_cosine").loss(batch)["loss"]
    assert 0 <= loss.item() <= 2
    with pytest.raises(KeyError, match="prompt_embeds"):
        AdapterTask(adapter).loss(batch)


# -------------------------------------------------------------------------------------------------- decoders


def test_frame_decoder_task_learns_to_reconstruct_frames():
    batch = stack(SyntheticMotion(4, frames=2, size=32))
    torch.manual_seed(0)
    decoder = SimpleFrameDecoder(dim=192, grid=(4, 4), out_size=32, channels=(32, 16), blocks_per_stage=1)
    task = FrameDecoderTask(decoder)
    first = task.loss(batch)
    assert first["loss"].item() == pytest.approx(
        (decoder(PatchTokenizer().tokenize(batch["frames"]).flatten(0, 1)) - batch["frames"].flatten(0, 1) / 255)
        .abs()
        .mean()
        .item(),
        rel=1e-5,
    )
    losses = train_steps(task, [batch] * 30, lr=3e-3)
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(ValueError, match="lpips_network"):
        FrameDecoderTask(decoder, lpips_weight=0.5)


def test_fusion_task_trains_only_the_fusion_and_the_decoder():
    encoder = tiny_hybrid()
    decoder = SimpleFrameDecoder(dim=32, grid=encoder.grid, out_size=32, channels=(16, 8))
    task = FusionTask(encoder, decoder)
    batch = stack(SyntheticMotion(2, frames=2, size=32))
    trainable = set(map(id, task.trainable_parameters()))
    assert trainable == set(map(id, [*encoder.fusion.parameters(), *decoder.parameters()]))
    backbone = {name: p.clone() for name, p in encoder.named_parameters() if not name.startswith("fusion.")}
    fusion_before = encoder.fusion.proj_in.weight.clone()
    losses = train_steps(task, [batch] * 6, lr=3e-3)
    assert losses[-1] < losses[0]
    assert not torch.equal(encoder.fusion.proj_in.weight, fusion_before)
    assert all(torch.equal(p, backbone[name]) for name, p in encoder.named_parameters() if name in backbone)
    # cached backbone tokens give the live loss
    features = HybridEncoderFeatures(encoder, outputs=("spatial_tokens", "semantic_tokens"))(batch)
    cached = dict(batch, **features)
    assert task.loss(cached)["loss"].item() == pytest.approx(task.loss(batch)["loss"].item(), rel=1e-5)


def test_fusion_task_saves_a_reloadable_hybrid_encoder(tmp_path):
    encoder = tiny_hybrid()
    decoder = SimpleFrameDecoder(dim=32, grid=encoder.grid, out_size=32, channels=(16, 8))
    task = FusionTask(encoder, decoder)
    train_steps(task, [stack(SyntheticMotion(2, frames=2, size=32))] * 2, lr=1e-2)
    task.save_pretrained(tmp_path)
    loaded = HybridEncoder.from_pretrained(tmp_path / "hybrid_encoder", dino=encoder.dino, vlm=encoder.vlm)
    assert torch.equal(loaded.fusion.proj_in.weight, encoder.fusion.proj_in.weight)
    assert torch.equal(
        SimpleFrameDecoder.from_pretrained(tmp_path / "decoder").proj_in[1].weight, decoder.proj_in[1].weight
    )


# -------------------------------------------------------------------------------------------------- VLM


def qa_batch():
    pairs = VideoQADataset(SyntheticMotion(2, frames=4, size=32), context_frames=2)
    return collate_clips([pairs[i] for i in range(len(pairs))])


def test_video_qa_pairs():
    clips = SyntheticMotion(2, frames=4, size=32)
    pairs = VideoQADataset(clips, context_frames=2)
    assert len(pairs) == 4
    assert [pairs[i]["question"] for i in range(2)] == [DESCRIBE_QUESTION, PREDICT_QUESTION]
    assert pairs[3]["answer"] == clips[1]["label"] and pairs[3]["id"] == "1/predict"
    assert pairs[1]["frames"].shape[0] == 2 and pairs[0]["frames"].shape[0] == 4
    assert len(VideoQADataset(clips)) == 2
    with pytest.raises(ValueError, match="context_frames"):
        VideoQADataset(clips, context_frames=4)[1]


def test_vlm_task_supervises_the_answer_tokens_only_and_its_loss_falls():
    task = VLMTask(testing.tiny_qwen2_5_vl(), testing.tiny_qwen2_5_vl_processor())
    batch = qa_batch()
    inputs = task.build_inputs(batch)
    tokenizer = task.processor.tokenizer
    for i, answer in enumerate(batch["answer"]):
        supervised = inputs["labels"][i] != -100
        assert tokenizer.decode(inputs["input_ids"][i][supervised]) == answer + "<|im_end|>"
        # the supervised tokens are one block at the end of the real tokens; the prompt and padding are masked
        real = int(inputs["attention_mask"][i].sum())
        assert supervised.nonzero().flatten().tolist() == list(range(real - supervised.sum().item(), real))
        prompt = tokenizer.decode(inputs["input_ids"][i][:real][~supervised[:real]])
        assert batch["question"][i] in prompt and prompt.endswith("<|im_start|>assistant\n")
    assert (inputs["input_ids"][1] == task.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")).any()
    losses = train_steps(task, [batch] * 5, lr=3e-3)
    assert losses[-1] < losses[0] - 0.3


@pytest.mark.parametrize("kind", ["peft", "lora_adapter"])
def test_vlm_task_with_a_lora_trains_lora_weights_only(tmp_path, kind):
    from peft import LoraConfig

    from foresight_models.models.lora_adapter import LoRAAdapter

    vlm = testing.tiny_qwen2_5_vl()
    base = {name: p.clone() for name, p in vlm.named_parameters()}
    if kind == "peft":
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    else:
        lora = LoRAAdapter(d_in=32, d_out=32, r=4, lora_alpha=8.0)
    task = VLMTask(vlm, testing.tiny_qwen2_5_vl_processor(), lora=lora)
    names = [name for name, p in task.vlm.named_parameters() if any(p is q for q in task.trainable_parameters())]
    assert names and all("lora_" in name for name in names)
    losses = train_steps(task, [qa_batch()] * 5, lr=3e-2)
    assert losses[-1] < losses[0]
    for name, p in task.vlm.get_base_model().named_parameters():
        if "lora_" not in name:
            assert torch.equal(p, base[name.replace(".base_layer", "")])
    task.save_pretrained(tmp_path)
    folder = tmp_path / ("vlm" if kind == "peft" else "lora_adapter")
    assert (folder / "adapter_model.safetensors").is_file()


def test_vlm_task_full_fine_tuning_saves_a_loadable_model(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    task = VLMTask(testing.tiny_qwen2_5_vl(), testing.tiny_qwen2_5_vl_processor())
    assert sum(p.numel() for p in task.trainable_parameters()) == sum(p.numel() for p in task.vlm.parameters())
    train_steps(task, [qa_batch()], lr=1e-2)
    task.save_pretrained(tmp_path)
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "vlm", local_files_only=True)
    assert torch.equal(loaded.lm_head.weight, task.vlm.lm_head.weight)
    assert (tmp_path / "vlm" / "chat_template.jinja").is_file() or (tmp_path / "vlm" / "chat_template.json").is_file()


def test_build_task_builds_every_task_from_a_config_section(tmp_path):
    head = {
        "class": "QueryPredictionHead",
        "dim": 192,
        "depth": 1,
        "heads": 2,
        "dim_head": 8,
        "num_frames": 2,
        "max_tokens": 16,
    }
    task = build_task({"name": "head", "head": head, "context_frames": 2, "loss": "cosine"})
    assert isinstance(task, HeadTask) and task.head.config.dim == 192 and task.loss_name == "cosine"
    task.head.save_pretrained(tmp_path / "head")
    reloaded = build_task({"name": "head", "head": str(tmp_path / "head"), "context_frames": 2})
    assert torch.equal(reloaded.head.proj_out[1].weight, task.head.proj_out[1].weight)

    adapter = {"class": "QueryAdapter", "d_in": 192, "d_out": 32, "num_tokens": 8, "dim": 32, "depth": 1}
    task = build_task({"name": "adapter", "adapter": adapter, "target": {"text_encoder": "tiny", "max_length": 8}})
    assert isinstance(task, AdapterTask) and task.loss(stack(SyntheticMotion(2, frames=2, size=32)))["loss"] > 0

    task = build_task(
        {
            "name": "frame_decoder",
            "decoder": {"class": "SimpleFrameDecoder", "dim": 48, "grid": [8, 8], "out_size": 32, "channels": [8]},
            "encoder": {"kind": "patches", "patch_size": 4},
        }
    )
    assert isinstance(task, FrameDecoderTask) and task.decoder.grid == (8, 8)

    task = build_task(
        {
            "name": "fusion",
            "hybrid_encoder": {"dino": "tiny", "vlm": "tiny"},
            "decoder": {"class": "SimpleFrameDecoder", "dim": 32, "grid": [4, 4], "out_size": 32, "channels": [16, 8]},
        }
    )
    assert isinstance(task, FusionTask) and task.hybrid_encoder.fusion.config.dim == 32

    task = build_task({"name": "vlm", "model": "tiny", "lora": {"r": 2, "target_modules": ["q_proj"]}})
    assert isinstance(task, VLMTask) and task.is_lora
    assert sum(p.numel() for p in task.trainable_parameters()) == 2 * 2 * (32 + 32)  # 2 layers x r x (in + out)
    task = build_task({"name": "vae", "model": "tiny", "crop": [5, 16, 16]})
    assert type(task).__name__ == "VAETask" and task.crop == (5, 16, 16)
    assert set(TASKS) == {"head", "adapter", "frame_decoder", "fusion", "vlm", "vae", "ltx"}


@pytest.mark.parametrize(
    ("section", "error", "message"),
    [
        ({"name": "heads"}, ValueError, "task.name: expected one of"),
        ({"context_frames": 2}, ValueError, "task: missing 'name'"),
        (
            {"name": "head", "head": {"class": "QueryPredictionHead"}, "context_frames": 2, "lr": 1},
            ValueError,
            r"task.lr: unknown key 'lr'; allowed keys: name, ",
        ),
        (
            {"name": "head", "head": {"class": "GRUHead"}, "context_frames": 2},
            ValueError,
            "task.head.class: unknown class 'GRUHead'",
        ),
        (
            {"name": "head", "head": {"class": "QueryAdapter", "d_in": 4}, "context_frames": 2},
            ValueError,
            "unknown class 'QueryAdapter'",
        ),
        (
            {"name": "head", "head": {"class": "QueryPredictionHead", "width": 4}, "context_frames": 2},
            ValueError,
            r"unknown argument\(s\) \['width'\] for QueryPredictionHead",
        ),
        (
            {"name": "head", "head": {"class": "QueryPredictionHead"}},
            ValueError,
            r"task.context_frames: missing required key 'context_frames'",
        ),
        (
            {"name": "head", "head": {"class": "QueryPredictionHead"}, "context_frames": 0},
            ValueError,
            "task.context_frames: expected an int >= 1",
        ),
        (
            {
                "name": "head",
                "head": {"class": "QueryPredictionHead"},
                "context_frames": 2,
                "encoder": {"kind": "pixels"},
            },
            ValueError,
            "task.encoder.kind",
        ),
        (
            {
                "name": "head",
                "head": {"class": "QueryPredictionHead"},
                "context_frames": 2,
                "encoder": {"kind": "patches", "stride": 2},
            },
            ValueError,
            r"task.encoder.stride: unknown key 'stride'; allowed keys: kind, patch_size",
        ),
        (
            {"name": "head", "head": "/no/such/folder", "context_frames": 2},
            FileNotFoundError,
            "not a saved module folder",
        ),
        (
            {
                "name": "adapter",
                "adapter": {"class": "QueryAdapter", "d_in": 4},
                "target": {"text_encoder": "tiny", "maxlen": 8},
            },
            ValueError,
            r"task.target.maxlen: unknown key 'maxlen'",
        ),
        (
            {"name": "fusion", "hybrid_encoder": {"dino": "tiny"}, "decoder": {"class": "SimpleFrameDecoder"}},
            ValueError,
            "both 'dino' and 'vlm'",
        ),
        ({"name": "vlm", "model": "tiny", "lora": {"rank": 4}}, ValueError, r"task.lora.rank: unknown key 'rank'; allowed keys: r, "),
        (
            {"name": "vlm", "model": "tiny", "lora": {"target_modules": ["qkv"]}},
            ValueError,
            r"\['qkv'\] match no linear layer",
        ),
        ({"name": "vlm", "model": "tiny", "dtype": "fp8"}, ValueError, "task.dtype: expected one of"),
        ({"name": "vlm", "model": 3}, TypeError, "task.model: expected 'tiny', a Hub id or a local folder"),
    ],
)
def test_build_task_refuses_bad_sections(section, error, message):
    with pytest.raises(error, match=message):
        build_task(section)


@pytest.mark.parametrize("name", ["head", "adapter"])
def test_example_configs_follow_the_run_config_format_and_build(name):
    import pathlib

    import yaml

    config = yaml.safe_load((pathlib.Path(__file__).parents[1] / "configs" / "examples" / f"{name}.yaml").read_text())
    sections = {"seed", "output_dir", "task", "data", "eval", "optim", "checkpoint", "logging", "early_stopping"}
    assert set(config) == sections
    task = build_task(config["task"])
    clips = SyntheticMotion(2, **{k: v for k, v in config["data"].items() if k in ("frames", "size", "seed")})
    loss = task.loss(stack(clips))["loss"]
    assert loss.ndim == 0 and loss.item() > 0
    assert sum(p.numel() for p in task.trainable_parameters()) == sum(
        p.numel() for module in task.trainable.values() for p in module.parameters()
    )


def test_frame_decoder_task_adds_a_weighted_lpips_term():
    from foresight_models.metrics.image import load_lpips_network

    network = load_lpips_network(random_backbone=True)
    batch = stack(SyntheticMotion(2, frames=1 + 1, size=32))
    decoder = SimpleFrameDecoder(dim=192, grid=(4, 4), out_size=32, channels=(16, 8))
    task = FrameDecoderTask(decoder, lpips_weight=0.5, lpips_network=network)
    out = task.loss(batch)
    decoded = decoder(PatchTokenizer().tokenize(batch["frames"]).flatten(0, 1))
    reference = network(decoded, batch["frames"].flatten(0, 1).float() / 255, normalize=True).mean()
    assert out["lpips"].item() == pytest.approx(reference.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["pixel_l1"].item() + 0.5 * reference.item(), rel=1e-5)
    out["loss"].backward()
    assert decoder.proj_in[1].weight.grad is not None
    assert all(p.grad is None for p in network.parameters())
