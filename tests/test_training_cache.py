"""Feature caching: shards + index, lazy reading, resume after a crash, process shares, fingerprints, CLI."""

import itertools
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from training_tiny import train_steps

from foresight_models import testing
from foresight_models.cli import main
from foresight_models.data import SyntheticMotion, collate_clips
from foresight_models.models.fusion import HybridEncoder
from foresight_models.training.cache import (
    CachedFeatures,
    CacheFingerprintError,
    IncompleteCacheError,
    cache_features,
    merge_cache_index,
)
from foresight_models.training.features import (
    HybridEncoderFeatures,
    LTXVAELatents,
    PatchTokenizer,
    PromptEmbeddings,
    encoder_fingerprint,
)
from foresight_models.training.tasks import HeadTask


class CountingEncoder:
    """A real patch tokenizer that counts the batches it encodes."""

    def __init__(self, patch_size=8):
        self.tokenizer = PatchTokenizer(patch_size=patch_size)
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        return self.tokenizer(batch)

    def fingerprint_config(self):
        return self.tokenizer.fingerprint_config()


class FailingClips(Dataset):
    """SyntheticMotion clips whose item ``fail_at`` raises while ``failing`` is set (a read error mid-run)."""

    def __init__(self, clips, fail_at):
        self.clips, self.fail_at, self.failing = clips, fail_at, True

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        if self.failing and index == self.fail_at:
            raise OSError(f"could not read clip {index}")
        return self.clips[index]


def shard_files(path):
    return sorted(p for p in os.listdir(path) if p.startswith("shard-"))


def test_cache_writes_shards_and_index_and_reads_items_back(tmp_path):
    clips = SyntheticMotion(10, frames=3, size=32, seed=1)
    tokenizer = PatchTokenizer(patch_size=8)
    index_path = cache_features(tokenizer, clips, tmp_path, batch_size=3, shard_size=4)
    assert index_path == tmp_path / "index.json"
    assert shard_files(tmp_path) == [f"shard-0000{k}-of-00003.safetensors" for k in range(3)]
    index = json.loads(index_path.read_text())
    assert [s["id"] for s in index["samples"]] == [str(i) for i in range(10)]
    assert [(s["shard"], s["row"]) for s in index["samples"]][4] == (1, 0)
    assert index["samples"][0]["shapes"] == {"tokens": [3, 16, 192]}
    assert index["features"] == {"tokens": {"dtype": "float32"}}
    assert index["fingerprint"] == encoder_fingerprint(tokenizer)

    cached = CachedFeatures(tmp_path, encoder=tokenizer)
    assert len(cached) == 10
    for i in (0, 5, 9):
        item = cached[i]
        live = tokenizer.tokenize(clips[i]["frames"][None])[0]
        assert item["id"] == str(i)
        torch.testing.assert_close(item["tokens"], live, rtol=0, atol=0)
        assert item["label"] == clips[i]["label"] and item["action"] == clips[i]["action"]
        assert item["placeholders"] == clips[i]["placeholders"]
    # items batch like any dataset's, and a dtype cast is stored and recorded
    batch = next(iter(DataLoader(cached, batch_size=4, collate_fn=collate_clips)))
    assert batch["tokens"].shape == (4, 3, 16, 192)
    cache_features(tokenizer, clips, tmp_path / "half", batch_size=4, shard_size=8, dtype="float16")
    half = CachedFeatures(tmp_path / "half")
    assert half[3]["tokens"].dtype == torch.float16
    assert json.loads((tmp_path / "half" / "index.json").read_text())["features"]["tokens"]["dtype"] == "float16"


def test_training_from_the_cache_gives_the_live_losses(tmp_path):
    """A head trained on cached hybrid-encoder tokens follows the same losses as one fed live tokens."""
    with testing.seeded(0):
        encoder = HybridEncoder(
            dino=testing.tiny_dinov2(),
            vlm=testing.tiny_qwen2_5_vl(),
            dino_image_size=56,
            qwen_image_size=56,
            dim=32,
            depth=1,
            heads=4,
            dim_head=8,
        )
    clips = SyntheticMotion(8, frames=3, size=32, seed=3)
    features = HybridEncoderFeatures(encoder)
    cache_features(features, clips, tmp_path, batch_size=3, shard_size=5)
    cached = CachedFeatures(tmp_path, encoder=features)

    def run(dataset):
        from foresight_models.models.heads import QueryPredictionHead

        torch.manual_seed(0)
        head = QueryPredictionHead(
            dim=32, depth=1, heads=4, dim_head=8, num_frames=2, max_tokens=16, predict_delta=True
        )
        task = HeadTask(head, encoder, context_frames=2)
        loader = DataLoader(
            dataset, batch_size=4, shuffle=True, collate_fn=collate_clips, generator=torch.Generator().manual_seed(0)
        )
        return train_steps(task, itertools.chain(loader, loader), lr=1e-2)  # two epochs

    live, from_cache = run(clips), run(cached)
    assert len(live) == 4
    assert live[-1] < live[0]
    # encoding in other batch groupings may change the last float bits, never more
    torch.testing.assert_close(torch.tensor(from_cache), torch.tensor(live), rtol=1e-4, atol=1e-6)


def test_an_interrupted_cache_resumes_without_redoing_finished_shards(tmp_path):
    clips = FailingClips(SyntheticMotion(10, frames=2, size=32, seed=2), fail_at=7)
    encoder = CountingEncoder()
    with pytest.raises(OSError, match="could not read clip 7"):
        cache_features(encoder, clips, tmp_path, batch_size=2, shard_size=3)
    finished = shard_files(tmp_path)
    assert finished == ["shard-00000-of-00004.safetensors", "shard-00001-of-00004.safetensors"]
    assert not (tmp_path / "index.json").exists()
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []  # no partial file left behind
    with pytest.raises(FileNotFoundError, match="unfinished"):
        CachedFeatures(tmp_path)
    stamps = {name: os.stat(tmp_path / name).st_mtime_ns for name in finished}

    clips.failing = False
    encoder.calls = 0
    assert cache_features(encoder, clips, tmp_path, batch_size=2, shard_size=3) == tmp_path / "index.json"
    assert encoder.calls == 3  # shard 2 (3 items: 2 batches) and shard 3 (1 item); shards 0 and 1 skipped
    assert {name: os.stat(tmp_path / name).st_mtime_ns for name in finished} == stamps
    cached = CachedFeatures(tmp_path)
    assert cached.ids == [str(i) for i in range(10)]
    torch.testing.assert_close(cached[7]["tokens"], encoder.tokenizer.tokenize(clips[7]["frames"][None])[0])

    encoder.calls = 0  # a complete cache is not recomputed at all
    cache_features(encoder, clips, tmp_path, batch_size=2, shard_size=3)
    assert encoder.calls == 0


def test_two_processes_write_their_own_shards_and_the_index_is_merged(tmp_path):
    clips = SyntheticMotion(9, frames=2, size=32, seed=4, first_id=100)
    encoder = CountingEncoder()
    assert cache_features(encoder, clips, tmp_path, shard_size=2, process_index=1, num_processes=2) is None
    assert shard_files(tmp_path) == ["shard-00001-of-00005.safetensors", "shard-00003-of-00005.safetensors"]
    with pytest.raises(IncompleteCacheError, match="3 of 5 shards are missing"):
        merge_cache_index(tmp_path)
    index_path = cache_features(encoder, clips, tmp_path, shard_size=2, process_index=0, num_processes=2)
    assert len(shard_files(tmp_path)) == 5
    ids = [s["id"] for s in json.loads(index_path.read_text())["samples"]]
    assert ids == [str(100 + i) for i in range(9)]
    assert merge_cache_index(tmp_path).read_text() == index_path.read_text()
    assert CachedFeatures(tmp_path)[8]["id"] == "108"


def test_duplicate_ids_are_refused_at_the_merge(tmp_path):
    clips = [
        dict(item, id="same" if i in (1, 4) else item["id"])
        for i, item in enumerate(SyntheticMotion(5, frames=2, size=32))
    ]
    with pytest.raises(ValueError, match=r"id 'same' appears at indices 1 and 4"):
        cache_features(PatchTokenizer(), clips, tmp_path, shard_size=2)


def test_a_cache_of_another_encoder_is_refused(tmp_path):
    clips = SyntheticMotion(4, frames=2, size=32)
    cache_features(PatchTokenizer(patch_size=8), clips, tmp_path, shard_size=4)
    with pytest.raises(CacheFingerprintError, match="fingerprint .* not the expected"):
        CachedFeatures(tmp_path, encoder=PatchTokenizer(patch_size=4))
    with pytest.raises(CacheFingerprintError, match="not the expected"):
        CachedFeatures(tmp_path, expected_fingerprint="weights-v2")
    CachedFeatures(tmp_path, encoder=PatchTokenizer(patch_size=8))  # the right encoder is accepted
    with pytest.raises(CacheFingerprintError, match="out_dir: .* another encoder or dataset .*fingerprint"):
        cache_features(PatchTokenizer(patch_size=4), clips, tmp_path, shard_size=4)
    # a user-given fingerprint names weights that configs cannot tell apart
    cache_features(PatchTokenizer(), clips, tmp_path / "named", shard_size=4, fingerprint="dino-run-7")
    assert CachedFeatures(tmp_path / "named", expected_fingerprint="dino-run-7").fingerprint == "dino-run-7"


def test_fingerprints_follow_the_model_configs():
    t5 = PromptEmbeddings(testing.tiny_t5_encoder(), testing.tiny_t5_tokenizer(), max_length=16)
    same = PromptEmbeddings(testing.tiny_t5_encoder(seed=1), testing.tiny_t5_tokenizer(), max_length=16)
    longer = PromptEmbeddings(testing.tiny_t5_encoder(), testing.tiny_t5_tokenizer(), max_length=32)
    assert encoder_fingerprint(t5) == encoder_fingerprint(same)
    assert encoder_fingerprint(t5) != encoder_fingerprint(longer)
    vae = LTXVAELatents(testing.tiny_ltx_vae())
    assert encoder_fingerprint(vae) != encoder_fingerprint(t5)
    assert encoder_fingerprint(testing.tiny_ltx_vae()) != encoder_fingerprint(testing.tiny_t5_encoder())
    with pytest.raises(TypeError, match="fingerprint="):
        encoder_fingerprint(lambda batch: batch)


def test_prompt_embeddings_and_vae_latents_cache(tmp_path):
    clips = SyntheticMotion(3, frames=9, size=32)
    t5 = PromptEmbeddings(testing.tiny_t5_encoder(), testing.tiny_t5_tokenizer(), max_length=16)
    cache_features(t5, clips, tmp_path / "t5", batch_size=2, shard_size=2)
    item = CachedFeatures(tmp_path / "t5")[2]
    embeds, mask = t5.encode([clips[2]["label"]])
    torch.testing.assert_close(item["prompt_embeds"], embeds[0])
    assert torch.equal(item["prompt_attention_mask"], mask[0])
    vae = LTXVAELatents(testing.tiny_ltx_vae())
    cache_features(vae, clips, tmp_path / "vae", batch_size=3, shard_size=3)
    latents = CachedFeatures(tmp_path / "vae")[0]["latents"]
    assert latents.shape == (8, 3, 8, 8)  # (c, 1 + (9 - 1) / 4, 32 / 4, 32 / 4)
    torch.testing.assert_close(latents, vae({"frames": clips[0]["frames"][None]})["latents"][0], rtol=1e-4, atol=1e-5)


def test_cli_cache_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "cache.json"
    config.write_text(
        json.dumps(
            {
                "data": {"kind": "synthetic", "num_clips": 5, "frames": 2, "size": 32, "seed": 0},
                "cache": {"encoder": {"kind": "patches", "patch_size": 16}, "shard_size": 2},
            }
        )
    )
    assert main(["cache", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    assert "cached 5 samples" in capsys.readouterr().out
    assert CachedFeatures(tmp_path / "out", encoder=PatchTokenizer(patch_size=16))[4]["tokens"].shape == (2, 4, 768)

    config.write_text(json.dumps({"data": {"kind": "synthetic", "num_clips": 5}, "cache": {"encodr": {}}}))
    assert main(["cache", "--config", str(config), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cache.encodr: unknown key 'encodr'; allowed keys: out_dir, encoder" in err
    assert (
        main(
            [
                "cache",
                "--data",
                '{"kind": "synthetic", "num_clips": 2}',
                "--encoder",
                '{"kind": "pixels"}',
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )
    assert "encoder.kind: expected one of 'patches'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.skipif(
    shutil.which("accelerate") is None or shutil.which("foresight") is None,
    reason="accelerate's launcher or the foresight script is not installed",
)
def test_accelerate_launch_two_cpu_processes(tmp_path):
    """`accelerate launch` (torchrun) with 2 processes on the CPU: a gloo group, one share of the shards each."""
    config = tmp_path / "cache.json"
    config.write_text(
        json.dumps(
            {
                "data": {"kind": "synthetic", "num_clips": 7, "frames": 2, "size": 32},
                "cache": {"out_dir": str(tmp_path / "out"), "encoder": {"kind": "patches"}, "shard_size": 2},
            }
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONPATH=os.pathsep.join(sys.path))
    command = [
        shutil.which("accelerate"),
        "launch",
        "--num_processes",
        "2",
        "--multi_gpu",  # the torchrun launcher; without a visible GPU the processes form a gloo group
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        shutil.which("foresight"),
        "cache",
        "--config",
        str(config),
        "--progress",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "caching (process 0/2)" in result.stderr and "caching (process 1/2)" in result.stderr
    assert result.stdout.count("cached 7 samples") == 2
    assert len(shard_files(tmp_path / "out")) == 4
    assert CachedFeatures(tmp_path / "out").ids == [str(i) for i in range(7)]


def test_cli_caches_what_a_training_config_computes_and_the_task_trains_from_it(tmp_path, capsys):
    """The adapter example config: one pass caches the source tokens and the prompt embeddings."""
    import pathlib

    import yaml

    from foresight_models.training.tasks import build_task

    config = pathlib.Path(__file__).parents[1] / "configs" / "examples" / "adapter.yaml"
    data = '{"kind": "synthetic", "num_clips": 4, "frames": 2, "size": 32, "seed": 5}'
    assert main(["cache", "--config", str(config), "--data", data, "--out", str(tmp_path)]) == 0
    cached = CachedFeatures(tmp_path)
    assert set(cached.features) == {"tokens", "prompt_embeds", "prompt_attention_mask"}
    task = build_task(yaml.safe_load(config.read_text())["task"])
    cached_batch = collate_clips([cached[i] for i in range(4)])
    live_batch = collate_clips([SyntheticMotion(4, frames=2, size=32, seed=5)[i] for i in range(4)])
    assert "frames" not in cached_batch and "prompt_embeds" not in live_batch
    torch.testing.assert_close(task.loss(cached_batch)["loss"], task.loss(live_batch)["loss"], rtol=1e-5, atol=1e-6)


def test_vlm_hidden_states_are_cached_with_their_mask_and_feed_an_adapter(tmp_path):
    from foresight_models.models.adapters import QueryAdapter
    from foresight_models.training.features import VLMHiddenStates
    from foresight_models.training.tasks import AdapterTask

    states = VLMHiddenStates(testing.tiny_qwen2_5_vl(), testing.tiny_qwen2_5_vl_processor(), layer=1)
    clips = SyntheticMotion(3, frames=2, size=32)
    cache_features(states, clips, tmp_path, batch_size=2, shard_size=3)
    cached = CachedFeatures(tmp_path, encoder=states)
    live = states(collate_clips([clips[i] for i in range(3)]))
    item = cached[2]
    assert item["hidden_states"].shape == live["hidden_states"][2].shape and item["hidden_states"].shape[-1] == 32
    torch.testing.assert_close(item["hidden_states"], live["hidden_states"][2], rtol=1e-4, atol=1e-5)
    assert torch.equal(item["attention_mask"], live["attention_mask"][2])

    prompts = PromptEmbeddings(testing.tiny_t5_encoder(), testing.tiny_t5_tokenizer(), max_length=16)
    adapter = QueryAdapter(d_in=32, d_out=32, num_tokens=16, dim=32, depth=1, heads=4, dim_head=8)
    task = AdapterTask(adapter, source=states, target=prompts)
    batch = collate_clips([cached[i] for i in range(3)])
    raw = collate_clips([clips[i] for i in range(3)])
    torch.testing.assert_close(task.loss(batch)["loss"], task.loss(raw)["loss"], rtol=1e-4, atol=1e-6)
