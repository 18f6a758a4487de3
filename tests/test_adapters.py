"""Adapters: shapes, masks, parameter budgets, save/load, overfitting, LoRA on real peft + Qwen2.5-VL."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline

from foresight_models import testing
from foresight_models.models.adapters import (
    AdapterOutput,
    BottleneckAdapter,
    PerceiverAdapter,
    QueryAdapter,
    build_adapter,
    count_parameters,
)
from foresight_models.models.lora_adapter import LoRAAdapter

D_IN, D_OUT, K = 16, testing.TINY_CAPTION_CHANNELS, 4


@pytest.fixture(autouse=True)
def single_thread():
    # Tiny modules run far faster on one intra-op thread than with threads contending for shared cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class AdapterPipeline(DiffusionPipeline):
    """The smallest pipeline holding an adapter component, to check pipeline-folder round trips."""

    def __init__(self, adapter):
        super().__init__()
        self.register_modules(adapter=adapter)


def make(kind: str, **overrides):
    torch.manual_seed(0)
    small = {"dim": 32, "depth": 2, "dim_head": 16}
    configs = {
        "query": (QueryAdapter, small),
        "bottleneck": (BottleneckAdapter, {"hidden_dim": 24}),
        "perceiver": (PerceiverAdapter, small),
    }
    cls, config = configs[kind]
    return cls(**{"d_in": D_IN, "d_out": D_OUT, "num_tokens": K, **config, **overrides}).eval()


KINDS = ["query", "bottleneck", "perceiver"]


def padded_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(3, 8, D_IN, generator=g)
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, 5:] = False
    mask[2, 2:] = False
    return tokens, mask


# ---------------------------------------------------------------------------------------- shapes and masks


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_masked_tokens_do_not_matter(kind):
    adapter = make(kind)
    tokens, mask = padded_batch()
    out = adapter(tokens, mask)
    assert isinstance(out, AdapterOutput)
    assert out.tokens.shape == (3, K, D_OUT) and out.mask.shape == (3, K) and out.mask.dtype == torch.bool

    changed = tokens.clone()
    changed[~mask] = 1e3 * torch.randn_like(changed[~mask])
    torch.testing.assert_close(adapter(changed, mask).tokens, out.tokens)

    real = tokens.clone()
    real[0, 0] += torch.randn(D_IN)
    assert not torch.allclose(adapter(real, mask).tokens[0], out.tokens[0])
    # rows of a batch are independent: row 1 alone gives the same tokens
    torch.testing.assert_close(adapter(tokens[1:2], mask[1:2]).tokens[0], out.tokens[1], rtol=1e-5, atol=1e-6)
    # an integer attention mask (transformers convention) means the same as the boolean one
    torch.testing.assert_close(adapter(tokens, mask.long()).tokens, out.tokens)


def test_bottleneck_pooling_matches_adaptive_avg_pool_and_masks_empty_bins():
    adapter = make("bottleneck")
    tokens = torch.randn(2, 10, D_IN)
    out = adapter(tokens)
    pooled = F.adaptive_avg_pool1d(tokens.transpose(1, 2), K).transpose(1, 2)
    torch.testing.assert_close(out.tokens, adapter.mlp(adapter.norm_in(pooled)))
    assert out.mask.all()

    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[0, 5:] = False  # bins 2 and 3 of 4 (positions 5..9) hold no real token in row 0
    out = adapter(tokens, mask)
    assert out.mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert torch.equal(out.tokens[0, 2:], torch.zeros(2, D_OUT))


def test_perceiver_clip_input_and_time_embeddings():
    clip = torch.randn(2, 3, 5, D_IN)  # b t n d
    plain = make("perceiver")
    out = plain(clip)
    assert out.tokens.shape == (2, K, D_OUT)
    # without time embeddings the resampler is permutation invariant over frames (and tokens)
    torch.testing.assert_close(plain(clip.flip(1)).tokens, out.tokens, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(plain(clip.flatten(1, 2)).tokens, out.tokens, rtol=1e-5, atol=1e-5)

    timed = make("perceiver", num_frames=4)
    assert not torch.allclose(timed(clip.flip(1)).tokens, timed(clip).tokens, atol=1e-4)

    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[1, 2] = False  # the last frame of clip 1 is padding
    changed = clip.clone()
    changed[1, 2] = 50.0
    torch.testing.assert_close(timed(changed, mask).tokens, timed(clip, mask).tokens)

    with pytest.raises(ValueError, match="num_frames=4"):
        timed(torch.randn(1, 5, 2, D_IN))


# ---------------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("kind", KINDS)
def test_build_adapter_hits_10m_and_100m_budgets(kind):
    counts = {}
    for target in (10_000_000, 100_000_000):
        with torch.device("meta"):
            adapter = build_adapter(kind, d_in=3584, d_out=4096, num_tokens=32, target_params=target)
        counts[target] = count_parameters(adapter)
        assert abs(counts[target] - target) <= 0.1 * target, (kind, target, counts[target])
        assert adapter.config.d_in == 3584 and adapter.config.d_out == 4096
    assert counts[100_000_000] > 5 * counts[10_000_000]


def test_count_parameters_trainable_only():
    adapter = make("query")
    total = sum(p.numel() for p in adapter.parameters())
    adapter.proj_out.requires_grad_(False)
    frozen = adapter.proj_out.weight.numel() + adapter.proj_out.bias.numel()
    assert count_parameters(adapter) == total - frozen
    assert count_parameters(adapter, trainable_only=False) == total


def test_build_adapter_errors():
    with pytest.raises(ValueError, match="kind: expected one of 'query', 'bottleneck', 'perceiver', got 'mlp'"):
        build_adapter("mlp", d_in=3584)
    with pytest.raises(ValueError, match="kind='lora'"):
        build_adapter("lora", d_in=3584)
    with pytest.raises(ValueError, match="target_params=1,000"):
        build_adapter("query", d_in=3584, d_out=4096, target_params=1_000)
    with pytest.raises(ValueError, match="d_in: expected an int >= 1, got 0"):
        build_adapter("bottleneck", d_in=0)
    with pytest.raises(TypeError, match="target_params: expected an int, got 10000000.0"):
        build_adapter("query", d_in=3584, target_params=1e7)
    with pytest.raises(TypeError, match="trainable_only: expected True or False, got 0"):
        count_parameters(QueryAdapter(d_in=8, dim=32), trainable_only=0)
    with pytest.raises(ValueError, match="chooses dim.*dim=64"):
        build_adapter("query", d_in=3584, dim=64)
    with pytest.raises(ValueError, match="chooses hidden_dim"):
        build_adapter("bottleneck", d_in=3584, hidden_dim=64)


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_errors(kind):
    adapter = make(kind)
    tokens, mask = padded_batch()
    with pytest.raises(ValueError, match=f"d_in={D_IN}"):
        adapter(torch.randn(3, 8, D_IN + 1))
    with pytest.raises(ValueError, match=r"mask must have shape \(3, 8\)"):
        adapter(tokens, mask[:, :5])
    with pytest.raises(TypeError, match="mask must be boolean"):
        adapter(tokens, mask.float())
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor"):
        adapter(tokens.tolist(), mask)
    with pytest.raises(ValueError, match="tokens must be 3-d"):
        adapter(torch.randn(8, D_IN))
    with pytest.raises(ValueError, match="num_tokens: expected an int >= 1, got 0"):
        type(adapter)(d_in=D_IN, num_tokens=0)
    if kind != "bottleneck":
        with pytest.raises(ValueError, match="dim_head: expected an int >= 1, got 0"):
            type(adapter)(d_in=D_IN, dim_head=0)


# ---------------------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_alone_and_in_pipeline(kind, tmp_path):
    adapter = make(kind, d_out=7)
    tokens, mask = padded_batch()
    expected = adapter(tokens, mask).tokens

    adapter.save_pretrained(tmp_path / "alone")
    loaded = type(adapter).from_pretrained(tmp_path / "alone").eval()
    assert loaded.config.d_out == 7
    assert torch.equal(loaded(tokens, mask).tokens, expected)

    AdapterPipeline(adapter=adapter).save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["adapter"] == ["foresight_models.models.adapters", type(adapter).__name__]
    pipe = AdapterPipeline.from_pretrained(tmp_path / "pipe", local_files_only=True)
    assert type(pipe.adapter) is type(adapter)
    assert torch.equal(pipe.adapter.eval()(tokens, mask).tokens, expected)


# ---------------------------------------------------------------------------------------- overfitting


def overfit(adapter, inputs: dict, target: torch.Tensor, *, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    params = [p for p in adapter.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    adapter.train()
    losses = []
    for _ in range(steps):
        out = adapter(**inputs)
        loss = F.mse_loss(out.tokens[out.mask], target[out.mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("kind", KINDS)
def test_overfits_fixed_regression_target(kind):
    adapter = make(kind)
    tokens, mask = padded_batch()
    target = torch.randn(3, K, D_OUT, generator=torch.Generator().manual_seed(1))
    first, last = overfit(adapter, {"tokens": tokens, "mask": mask}, target, steps=150)
    assert last < 0.1 * first, (first, last)


# ---------------------------------------------------------------------------------------- LoRA


def test_lora_on_7b_preset_matches_research_count():
    from foresight_models.presets import build

    vlm = build("qwen2.5-vl-7b", device="meta")
    assert LoRAAdapter.rank_for_budget(vlm, 20_000_000) == 63  # 20M / (28 x 11,264 per unit of rank)
    adapter = LoRAAdapter(d_in=3584, d_out=4096, r=64)
    peft_model = adapter.attach(vlm, low_cpu_mem_usage=True)
    trainable, _ = peft_model.get_nb_trainable_parameters()
    # 28 layers x r=64 x ((3584 + 3584) for q_proj + (3584 + 512) for v_proj), the research's "~20M"
    assert trainable == 28 * 64 * ((3584 + 3584) + (3584 + 512)) == 20_185_088
    lora_modules = [n for n, _ in vlm.named_modules() if n.endswith("lora_A")]
    assert len(lora_modules) == 2 * 28
    assert all(".language_model." in n for n in lora_modules)


@pytest.fixture()
def tiny_lora():
    adapter = LoRAAdapter(d_in=32, d_out=8, r=4, lora_alpha=8.0)
    adapter.attach(testing.tiny_qwen2_5_vl())
    torch.manual_seed(0)
    with torch.no_grad():  # a trained-looking LoRA: B starts at zero, which would hide merge/save bugs
        for name, p in adapter.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.2)
    return adapter.eval()


def lora_batch():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 6, 32, generator=g)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 4:] = False  # right padding
    return tokens, mask


def test_lora_only_lora_and_projection_train(tiny_lora):
    trainable = {n for n, p in tiny_lora.named_parameters() if p.requires_grad}
    assert {"norm.weight", "norm.bias", "proj.weight", "proj.bias"} <= trainable
    others = trainable - {"norm.weight", "norm.bias", "proj.weight", "proj.bias"}
    assert others and all(".lora_A." in n or ".lora_B." in n for n in others)
    assert all(".language_model." in n for n in others)
    # 2 layers x r=4 x ((32 + 32) q_proj + (32 + 16) v_proj) + LayerNorm(32) + Linear(32, 8)
    assert count_parameters(tiny_lora) == 2 * 4 * (64 + 48) + 64 + 32 * 8 + 8

    base = {n: p.detach().clone() for n, p in tiny_lora.named_parameters() if not p.requires_grad}
    tokens, mask = lora_batch()
    first, last = overfit(tiny_lora, {"tokens": tokens, "mask": mask}, torch.randn(2, 6, 8), steps=150, lr=1e-2)
    assert last < 0.1 * first, (first, last)
    assert all(torch.equal(p, base[n]) for n, p in tiny_lora.named_parameters() if not p.requires_grad)


def test_lora_merge_matches_unmerged_and_masks(tiny_lora):
    tokens, mask = lora_batch()
    with torch.no_grad():
        unmerged = tiny_lora(tokens, mask)
        with tiny_lora.peft_model.disable_adapter():
            without_lora = tiny_lora(tokens, mask).tokens
        tiny_lora.merge()
        merged = tiny_lora(tokens, mask).tokens
        tiny_lora.unmerge()
        again = tiny_lora(tokens, mask).tokens
    assert not torch.allclose(without_lora, unmerged.tokens, atol=1e-3)
    torch.testing.assert_close(merged, unmerged.tokens, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, unmerged.tokens, rtol=1e-4, atol=1e-5)

    assert unmerged.tokens.shape == (2, 6, 8) and torch.equal(unmerged.mask, mask)
    assert torch.equal(unmerged.tokens[0, 4:], torch.zeros(2, 8))
    changed = tokens.clone()
    changed[0, 4:] = 30.0
    with torch.no_grad():
        torch.testing.assert_close(tiny_lora(changed, mask).tokens, unmerged.tokens)

    # detach(merge=True) hands back the plain VLM with the LoRA folded in: same hidden states, no peft layers
    embeds_out = (
        tiny_lora.peft_model.get_base_model()
        .model.language_model(inputs_embeds=tokens, attention_mask=mask.long())
        .last_hidden_state
    )
    vlm = tiny_lora.detach(merge=True)
    assert tiny_lora.peft_model is None
    assert not any("lora" in n for n, _ in vlm.named_modules())
    with torch.no_grad():
        plain_out = vlm.model.language_model(inputs_embeds=tokens, attention_mask=mask.long()).last_hidden_state
    torch.testing.assert_close(plain_out, embeds_out, rtol=1e-4, atol=1e-5)


def test_lora_save_load_round_trip_in_peft_format(tiny_lora, tmp_path):
    from peft import PeftModel

    tokens, mask = lora_batch()
    with torch.no_grad():
        expected = tiny_lora(tokens, mask).tokens
    tiny_lora.save_pretrained(tmp_path / "lora")
    files = {p.name for p in (tmp_path / "lora").iterdir()}
    assert {"config.json", "diffusion_pytorch_model.safetensors", "adapter_config.json"} <= files
    assert "adapter_model.safetensors" in files
    peft_config = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert peft_config["r"] == 4 and peft_config["peft_type"] == "LORA"

    loaded = LoRAAdapter.from_pretrained(tmp_path / "lora", vlm=testing.tiny_qwen2_5_vl()).eval()
    with torch.no_grad():
        assert torch.equal(loaded(tokens, mask).tokens, expected)
    # the LoRA folder is plain peft: peft loads it on its own
    plain = PeftModel.from_pretrained(testing.tiny_qwen2_5_vl(), tmp_path / "lora")
    lora_state = {n: p for n, p in tiny_lora.peft_model.named_parameters() if "lora_" in n}
    assert all(torch.equal(p, lora_state[n]) for n, p in plain.named_parameters() if "lora_" in n)

    AdapterPipeline(adapter=tiny_lora).save_pretrained(tmp_path / "pipe")
    pipe = AdapterPipeline.from_pretrained(tmp_path / "pipe", local_files_only=True)
    # re-saving a loaded pipeline whose adapter has no VLM attached keeps the LoRA
    pipe.save_pretrained(tmp_path / "pipe2")
    pipe = AdapterPipeline.from_pretrained(tmp_path / "pipe2", local_files_only=True)
    pipe.adapter.attach(testing.tiny_qwen2_5_vl())
    with torch.no_grad():
        assert torch.equal(pipe.adapter.eval()(tokens, mask).tokens, expected)

    # a LoRA saved with another rank is refused rather than silently used
    with pytest.raises(ValueError, match=r"lora_path.*'r': 4"):
        LoRAAdapter(d_in=32, d_out=8, r=8, lora_alpha=8.0).attach(testing.tiny_qwen2_5_vl(), tmp_path / "lora")


def test_lora_targets_whole_module_names_on_either_qwen_class():
    vlm = testing.tiny_qwen2_5_vl()
    pattern = LoRAAdapter(d_in=32).target_pattern()
    names = [n for n, m in vlm.named_modules() if isinstance(m, torch.nn.Linear)]
    selected = [n for n in names if re.fullmatch(pattern, n)]
    assert selected == [n for n in names if ".language_model." in n and n.rsplit(".", 1)[1] in ("q_proj", "v_proj")]
    assert not re.fullmatch(pattern, "model.language_model.layers.0.self_attn.xq_proj")
    # Qwen2_5_VLModel (no LM head, no `.model.` prefix in its module names) takes the same LoRA
    adapter = LoRAAdapter(d_in=32, d_out=8, r=2)
    adapter.attach(vlm.model)
    lora_modules = [n for n, _ in vlm.model.named_modules() if n.endswith("lora_A")]
    assert len(lora_modules) == 2 * 2 and all("language_model" in n for n in lora_modules)
    tokens, mask = lora_batch()
    assert adapter(tokens, mask).tokens.shape == (2, 6, 8)


def test_lora_encode_runs_the_whole_vlm_on_processor_outputs(tiny_lora):
    import numpy as np
    from PIL import Image

    processor = testing.tiny_qwen2_5_vl_processor()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what next?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (56, 56, 3), dtype=np.uint8))
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        out = tiny_lora.encode(**inputs)
        embeds = tiny_lora.peft_model.get_base_model().get_input_embeddings()(inputs["input_ids"])
        text_only = tiny_lora(embeds, inputs["attention_mask"])
    assert out.tokens.shape == (1, inputs["input_ids"].shape[1], 8)
    assert out.mask.all()
    # the image changes the tokens (the text-only path sees placeholder embeddings instead)
    assert not torch.allclose(out.tokens, text_only.tokens, atol=1e-4)


def test_lora_errors():
    adapter = LoRAAdapter(d_in=64, d_out=8, r=2)
    with pytest.raises(RuntimeError, match="no VLM attached"):
        adapter(torch.randn(1, 3, 64))
    with pytest.raises(ValueError, match="hidden size is 32, but the adapter has d_in=64"):
        adapter.attach(testing.tiny_qwen2_5_vl())
    with pytest.raises(TypeError, match="Qwen2.5-VL"):
        adapter.attach(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="target_modules"):
        LoRAAdapter(d_in=32, target_modules="q_proj")
    small = LoRAAdapter(d_in=32, d_out=8, r=2)
    small.attach(testing.tiny_qwen2_5_vl())
    with pytest.raises(ValueError, match="d_in=32"):
        small(torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match="already attached"):
        small.attach(testing.tiny_qwen2_5_vl())
    with pytest.raises(ValueError, match="target_params must be at least"):
        LoRAAdapter.rank_for_budget(testing.tiny_qwen2_5_vl(), 10)
    with pytest.raises(TypeError, match="target_params: expected an int, got 1000.0"):
        LoRAAdapter.rank_for_budget(testing.tiny_qwen2_5_vl(), 1000.0)
    with pytest.raises(ValueError, match=r"layer=3 is out of range.*-3\.\.2"):
        LoRAAdapter(d_in=32, layer=3).attach(testing.tiny_qwen2_5_vl())


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"lora_alpha": 0}, ValueError, "lora_alpha: expected a finite number > 0.0, got 0"),
        ({"lora_alpha": True}, TypeError, "lora_alpha: expected a real number, got True"),
        ({"lora_dropout": 1.5}, ValueError, r"lora_dropout: expected a finite number in \[0.0, 1.0\), got 1.5"),
        ({"layer": "-1"}, TypeError, "layer .*: expected a Python int.*got '-1'"),
        ({"r": 0}, ValueError, "r: expected an int >= 1, got 0"),
    ],
)
def test_lora_refuses_bad_constructor_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        LoRAAdapter(d_in=32, **arguments)


def test_numpy_integer_sizes_are_refused_before_they_reach_the_saved_config():
    import numpy as np

    with pytest.raises(TypeError, match=r"d_in: expected a Python int.*int64"):
        QueryAdapter(d_in=np.int64(8), d_out=8, num_tokens=2, dim=16, depth=1)


# ---------------------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("kind", KINDS)
def test_float64_tokens_are_cast_to_the_parameter_dtype(kind):
    adapter = make(kind).eval()
    tokens, mask = padded_batch()
    expected = adapter(tokens, mask).tokens
    out = adapter(tokens.double(), mask).tokens
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_integer_tokens_are_refused_naming_the_argument_and_dtype(kind, dtype):
    adapter = make(kind)
    tokens, mask = padded_batch()
    with pytest.raises(TypeError, match=f"tokens must be a floating-point tensor.*{dtype}"):
        adapter(tokens.to(dtype), mask)


def test_lora_float64_tokens_are_cast_and_integer_tokens_refused():
    adapter = LoRAAdapter(d_in=32, d_out=8, r=2)
    adapter.attach(testing.tiny_qwen2_5_vl())
    adapter.eval()
    tokens = torch.randn(2, 3, 32)
    torch.testing.assert_close(adapter(tokens.double()).tokens, adapter(tokens).tokens)
    with pytest.raises(TypeError, match="tokens must be a floating-point tensor.*torch.int64"):
        adapter(tokens.long())


# ---------------------------------------------------------------------------------------- modules


def test_lora_module_does_not_import_the_adapters_module():
    # lora_adapter and adapters share adapter_common instead of importing each other.
    code = (
        "import sys\n"
        "import foresight_models.models.lora_adapter\n"
        "assert 'foresight_models.models.adapters' not in sys.modules, 'lora_adapter imports adapters'\n"
        "from foresight_models.models import adapters, adapter_common, lora_adapter\n"
        "assert not hasattr(adapters, '__getattr__')\n"
        "assert adapters.LoRAAdapter is lora_adapter.LoRAAdapter\n"
        "assert adapters.AdapterOutput is adapter_common.AdapterOutput is lora_adapter.AdapterOutput\n"
        "assert adapters.count_parameters is adapter_common.count_parameters\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_public_adapter_names_resolve_from_the_package():
    import foresight_models
    from foresight_models.models import adapter_common

    assert foresight_models.AdapterOutput is adapter_common.AdapterOutput
    assert foresight_models.count_parameters is adapter_common.count_parameters
    assert foresight_models.LoRAAdapter is LoRAAdapter


@pytest.mark.parametrize("kind", KINDS)
def test_nan_in_a_real_input_token_is_not_hidden(kind):
    adapter = make(kind).eval()
    tokens, mask = padded_batch()
    tokens[0, 1] = float("nan")  # a real token of sample 0 (its mask is True)
    out = adapter(tokens, mask).tokens
    assert torch.isnan(out[0]).any()
    assert torch.isfinite(out[1:]).all()


@pytest.mark.parametrize("low_cpu_mem_usage", [True, False])
def test_a_component_whose_weights_lack_a_key_is_refused_at_load(tmp_path, low_cpu_mem_usage):
    # without accelerate (low_cpu_mem_usage=False) diffusers would keep the random initial value silently
    adapter = QueryAdapter(d_in=16, d_out=32, num_tokens=4, dim=32, depth=1, heads=2, dim_head=16)
    adapter.save_pretrained(tmp_path)
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    state = safetensors.torch.load_file(weights)
    dropped = sorted(state)[0]
    del state[dropped]
    safetensors.torch.save_file(state, weights)
    with pytest.raises(ValueError, match=rf"QueryAdapter: {re.escape(str(weights))} lack\(s\) 1 weight\(s\).*{re.escape(dropped)}"):
        QueryAdapter.from_pretrained(tmp_path, low_cpu_mem_usage=low_cpu_mem_usage)


def test_a_complete_component_reloads_equal(tmp_path):
    adapter = QueryAdapter(d_in=16, d_out=32, num_tokens=4, dim=32, depth=1, heads=2, dim_head=16)
    adapter.save_pretrained(tmp_path)
    reloaded = QueryAdapter.from_pretrained(tmp_path, low_cpu_mem_usage=False)
    assert all(torch.equal(a, b) for a, b in zip(adapter.state_dict().values(), reloaded.state_dict().values()))
