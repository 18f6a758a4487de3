"""The pieces of the foresight-tiny recipe: the VAE task, the pipeline's questions for the VLM task,
clips in data sections, a separately trained VAE for the LTX task, time-limited runs, and the
repository's configs running a few steps on CPU."""

from pathlib import Path

import pytest
import torch
from training_tiny import NextFrameTask, tiny_config, tiny_dataset, train_steps

from foresight_models import testing
from foresight_models.data import ForesightClips, SyntheticMotion, collate_clips
from foresight_models.pipelines.foresight_pipeline import DEFAULT_QUESTION, MOTION_PROMPT_INSTRUCTION
from foresight_models.training import Trainer, VAETask, VLMTask, build_dataset, build_task
from foresight_models.training.foresight_tiny import main as recipe

REPO = Path(__file__).resolve().parents[1]


def clip_batch(num_clips=4, *, frames=9, size=32, seed=0):
    motion = SyntheticMotion(num_clips, frames=frames + 2, size=size, seed=seed)
    clips = ForesightClips(motion, context_indices=(0, 2), num_frames=frames)
    return collate_clips([clips[i] for i in range(num_clips)])


def test_vae_task_learns_to_reconstruct_and_records_latent_statistics():
    vae = testing.tiny_ltx_vae()
    task = VAETask(vae.train(), stats_momentum=1.0)  # momentum 1: the statistics of the last batch
    batch = clip_batch()
    before = task.evaluate(batch)["l1"]
    losses = train_steps(task, [batch] * 25, lr=3e-3)
    assert losses[-1] < 0.7 * losses[0]
    assert task.evaluate(batch)["l1"] < before
    # the pipelines normalise latents with these buffers: they hold the posterior means' statistics
    with torch.no_grad():
        task.loss(batch)
        means = vae.encode(task.clip(batch)).latent_dist.mode().transpose(0, 1).flatten(1)
    torch.testing.assert_close(vae.latents_mean, means.mean(1))
    torch.testing.assert_close(vae.latents_std, means.std(1))


def test_a_vae_trained_on_its_posterior_mean_exports_a_posterior_without_spread(tmp_path):
    """diffusers' LTX pipelines sample the posterior of the conditioning image: the export must make that
    sample the mean, which is what the VAE (and the transformer after it) was trained on."""
    task = VAETask(testing.tiny_ltx_vae())
    clip = task.clip(clip_batch(2))
    with torch.no_grad():
        before = task.vae.encode(clip).latent_dist
    assert before.std.mean() > 0.5  # an untrained log-variance: noise of the latents' own size
    task.save_pretrained(tmp_path)
    from diffusers import AutoencoderKLLTXVideo

    exported = AutoencoderKLLTXVideo.from_pretrained(tmp_path / "vae")
    with torch.no_grad():
        after = exported.encode(clip).latent_dist
    torch.testing.assert_close(after.mean, before.mean)
    assert after.std.max() < 1e-4
    sampled = VAETask(testing.tiny_ltx_vae(), sample_posterior=True)
    sampled.save_pretrained(tmp_path / "sampled")
    reloaded = AutoencoderKLLTXVideo.from_pretrained(tmp_path / "sampled" / "vae")
    torch.testing.assert_close(reloaded.encoder.conv_out.conv.bias, sampled.vae.encoder.conv_out.conv.bias)


def test_vae_task_decodes_the_posterior_mean_unless_asked_to_sample():
    batch = clip_batch(2)
    deterministic = VAETask(testing.tiny_ltx_vae())
    torch.testing.assert_close(deterministic.loss(batch)["l1"], deterministic.loss(batch)["l1"])
    sampled = VAETask(testing.tiny_ltx_vae(), sample_posterior=True)
    assert not torch.equal(sampled.loss(batch)["l1"], sampled.loss(batch)["l1"])


def test_vae_task_crops_while_training_and_checks_the_crop():
    task = VAETask(testing.tiny_ltx_vae(), crop=(5, 16, 16)).train()
    batch = clip_batch(2)
    assert tuple(task.clip(batch).shape) == (2, 3, 5, 16, 16)
    assert tuple(task.eval().clip(batch).shape) == (2, 3, 9, 32, 32)
    with pytest.raises(ValueError, match="crop: expected frames = k \\* 4 \\+ 1"):
        VAETask(testing.tiny_ltx_vae(), crop=(4, 16, 16))
    with pytest.raises(ValueError, match="task.crop"):
        build_task({"name": "vae", "model": "tiny", "crop": [9, 30, 32]})
    with pytest.raises(ValueError, match="task.reconstruction: expected one of"):
        build_task({"name": "vae", "model": "tiny", "reconstruction": "lpips"})
    mse = build_task({"name": "vae", "model": "tiny", "reconstruction": "mse"})
    out = mse.loss(clip_batch(2))
    torch.testing.assert_close(out["loss"], out["mse"] + mse.kl_weight * out["kl"])
    with pytest.raises(ValueError, match="task.colour: unknown key"):
        build_task({"name": "vae", "model": "tiny", "colour": 1})


def test_vlm_task_asks_the_pipelines_two_questions_in_the_pipelines_words():
    pipe = testing.tiny_pipeline()
    task = VLMTask(pipe.vlm, pipe.processor, questions="pipeline")
    batch = clip_batch(2)
    samples = task.samples(batch)
    assert [(kind, question) for kind, _, question, _ in samples] == [
        ("image", MOTION_PROMPT_INSTRUCTION),
        ("video", DEFAULT_QUESTION),
    ] * 2
    assert [answer for *_, answer in samples] == [batch["label"][0]] * 2 + [batch["label"][1]] * 2
    kind, images, question, answer = samples[0]
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question}]
    expected = pipe._vlm_inputs(content, images=images)["input_ids"][0]
    inputs = task.build_inputs(batch, to_model=False)
    prompt = inputs["input_ids"][0][inputs["labels"][0] == -100][: len(expected)]
    assert torch.equal(prompt, expected)  # the prompt the pipeline will ask, token for token
    answer_ids = inputs["input_ids"][0][inputs["labels"][0] != -100]
    assert pipe.processor.tokenizer.decode(answer_ids[:-1]) == answer
    # collate (run in DataLoader workers) builds the same inputs from the dataset's items
    motion = SyntheticMotion(2, frames=11, size=32, seed=0)
    clips = ForesightClips(motion, context_indices=(0, 2), num_frames=9)
    collated = task.collate([clips[0], clips[1]])
    assert collated.keys() == inputs.keys()
    assert all(torch.equal(collated[key], inputs[key]) for key in inputs)


def test_vlm_task_asks_for_the_motion_prompt_with_the_context_as_one_video():
    pipe = testing.tiny_pipeline()
    pipe.register_to_config(context_as_video=True)
    task = VLMTask(pipe.vlm, pipe.processor, questions="pipeline", context_as_video=True)
    batch = clip_batch(1)
    kind, frames, question, _ = task.samples(batch)[0]
    assert (kind, question, len(frames)) == ("video", MOTION_PROMPT_INSTRUCTION, 2)
    content, media = pipe._context_question(frames, MOTION_PROMPT_INSTRUCTION)
    expected = pipe._vlm_inputs(content, **media)
    inputs = task.build_inputs(batch, to_model=False)
    prompt = inputs["input_ids"][0][inputs["labels"][0] == -100][: len(expected["input_ids"][0])]
    assert torch.equal(prompt, expected["input_ids"][0])  # the pipeline's prompt, token for token
    # both frames in one temporal patch: the motion prompt's pixels are the pipeline's video pixels
    first = expected["pixel_values_videos"]
    assert "pixel_values" not in inputs and torch.equal(inputs["pixel_values_videos"][: len(first)], first)
    with pytest.raises(ValueError, match="context_as_video"):
        VLMTask(pipe.vlm, pipe.processor, questions="batch", context_as_video=True)
    with pytest.raises(ValueError, match="task.context_as_video"):
        build_task({"name": "vlm", "model": "tiny", "context_as_video": True})
    with pytest.raises(TypeError, match="task.context_as_video"):
        build_task({"name": "vlm", "model": "tiny", "questions": "pipeline", "context_as_video": "yes"})


def test_vlm_task_learns_the_pipeline_questions():
    task = VLMTask(testing.tiny_qwen2_5_vl(), testing.tiny_qwen2_5_vl_processor(), questions="pipeline")
    batch = task.collate(
        [ForesightClips(SyntheticMotion(2, frames=11, size=32), context_indices=(0, 2), num_frames=9)[0]]
    )
    losses = train_steps(task, [batch] * 15, lr=5e-3)
    assert losses[-1] < 0.6 * losses[0]
    with pytest.raises(ValueError, match="task.questions"):
        build_task({"name": "vlm", "model": "tiny", "questions": "some"})


def test_data_sections_cut_clips_for_the_pipeline():
    section = {
        "kind": "synthetic",
        "num_clips": 2,
        "frames": 12,
        "size": 32,
        "clips": {"context_indices": [0, 3], "num_frames": 9},
    }
    dataset = build_dataset(section)
    assert isinstance(dataset, ForesightClips) and tuple(dataset[0]["frames"].shape) == (9, 3, 32, 32)
    with pytest.raises(ValueError, match="data.clips.stride: unknown key"):
        build_dataset({**section, "clips": {"stride": 2}})
    with pytest.raises(ValueError, match="data.clips.context_indices: expected increasing"):
        build_dataset({**section, "clips": {"context_indices": [3, 0], "num_frames": 9}})


def test_ltx_task_takes_a_separately_trained_vae(tmp_path):
    trained = testing.tiny_ltx_vae(seed=7)
    trained.latents_std.fill_(2.0)
    trained.save_pretrained(tmp_path / "vae")
    task = build_task({"name": "ltx", "model": "tiny", "vae": str(tmp_path / "vae"), "target": "full"})
    for key, value in trained.state_dict().items():
        assert torch.equal(task.vae.state_dict()[key], value), key
    with pytest.raises(ValueError, match="task.model: cannot load an LTX-Video VAE"):
        build_task({"name": "ltx", "model": "tiny", "vae": str(tmp_path / "missing"), "target": "full"})


def test_a_time_limited_run_stops_with_a_checkpoint_and_resumes(tmp_path):
    config = tiny_config(tmp_path / "run", max_steps=6, every=10)
    first = Trainer(NextFrameTask(), tiny_dataset(), config).train(time_limit=1e-9)
    assert first.step == 1 and not first.finished
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-1").is_dir()
    second = Trainer(NextFrameTask(), tiny_dataset(), config).train()
    assert second.finished and second.step == 6 and second.resumed_from.name == "checkpoint-1"
    with pytest.raises(ValueError, match="time_limit"):
        Trainer(NextFrameTask(), tiny_dataset(), config).train(time_limit=0)


def test_the_repository_configs_run_a_few_steps_on_cpu(tmp_path):
    """The recipe of the shipped model, end to end, two steps a part: the configs cannot rot."""
    run = tmp_path / "foresight-tiny"
    configs = REPO / "configs" / "foresight-tiny"
    assert recipe(["--run-dir", str(run), "--configs", str(configs), "--max-steps", "2", "--smoke"]) == 0
    from foresight_models import ForesightPipeline

    pipe = ForesightPipeline.from_pretrained(run / "pipeline", local_files_only=True)
    from diffusers import LTXVideoTransformer3DModel

    # the assembled folder holds the last run's transformer, which moved away from its initialisation;
    # each further run starts where the one before stopped
    from foresight_models.training.foresight_tiny import FINAL_RUNS

    assert FINAL_RUNS == {"vae": "vae", "vlm": "vlm-7", "transformer": "transformer-5"}
    # the last VLM runs learn the motion prompt from the context as one video, and the pipeline asks so
    assert pipe.config.context_as_video is True
    transformer = LTXVideoTransformer3DModel.from_pretrained(run / "transformer-5" / "final" / "transformer")
    for key, value in transformer.state_dict().items():
        assert torch.equal(pipe.transformer.state_dict()[key], value), key
    initial = LTXVideoTransformer3DModel.from_pretrained(run / "init" / "transformer")
    assert any(not torch.equal(initial.state_dict()[k], v) for k, v in transformer.state_dict().items())
    first = LTXVideoTransformer3DModel.from_pretrained(run / "transformer-4" / "final" / "transformer")
    moved = [(first.state_dict()[k] - v).abs().max().item() for k, v in transformer.state_dict().items()]
    # two steps of the last run from the run before's weights: close to them, not equal
    assert 0 < max(moved) < 0.05

    # a transformer run that trained T5 too (train_text_encoder) puts its T5 into the pipeline
    from transformers import T5EncoderModel

    t5 = testing.tiny_t5_encoder(seed=7)
    t5.save_pretrained(run / "transformer-5" / "final" / "text_encoder")
    assert recipe(["--run-dir", str(run), "--configs", str(configs), "--parts", "assemble"]) == 0
    assembled = T5EncoderModel.from_pretrained(run / "pipeline" / "text_encoder")
    for key, value in t5.state_dict().items():
        assert torch.equal(assembled.state_dict()[key], value), key


def test_an_ltx_task_continues_a_transformer_from_a_folder(tmp_path):
    start = testing.tiny_ltx_transformer(seed=3)
    start.save_pretrained(tmp_path / "transformer")
    task = build_task({"name": "ltx", "model": "tiny", "transformer": str(tmp_path / "transformer"), "target": "full"})
    for key, value in start.state_dict().items():
        assert torch.equal(task.transformer.state_dict()[key], value), key
    with pytest.raises(ValueError, match="task.transformer: cannot load an LTX-Video transformer"):
        build_task({"name": "ltx", "model": "tiny", "transformer": str(tmp_path / "missing"), "target": "full"})
    with pytest.raises(TypeError, match="task.transformer: expected a transformer folder"):
        build_task({"name": "ltx", "model": "tiny", "transformer": 3, "target": "full"})
