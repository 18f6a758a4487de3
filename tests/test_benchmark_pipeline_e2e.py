"""benchmarks/pipeline_e2e.py (and its wrapper pipeline_latency.py) run end to end on the tiny components."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_e2e_tiny_times_every_way_and_stage_and_passes_its_checks(tmp_path):
    bench = load("pipeline_e2e")
    out = tmp_path / "e2e.json"
    record = bench.main(["--preset", "tiny", "--continuations", "2", "--new-tokens", "4", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["ways"].keys() == {"stock", "default", "fast"}
    for way, result in saved["ways"].items():
        assert "error" not in result, result.get("traceback")
        for key in ("prompt_s", "video_s", "describe_s", "other_s", "total_s", "first_call_s", "compile_s"):
            assert isinstance(result[key], float), (way, key)
        assert result["prompt_s"] > 0 and result["video_s"] > 0 and result["describe_s"] > 0
        stages = result["prompt_s"] + result["video_s"] + result["describe_s"]
        assert result["other_s"] >= -1e-3  # figures are rounded to 0.1 ms
        assert result["total_s"] == pytest.approx(stages + result["other_s"], abs=1e-3)
        assert result["over_stock"] == pytest.approx(result["total_s"] / saved["ways"]["stock"]["total_s"], rel=1e-3)
    for way in ("stock", "fast"):
        vlm = saved["ways"][way]["vlm"]
        # a difference of two timings: on a loaded CPU it can come out negative, so only its form is checked
        assert vlm["new_tokens"] == 4 and math.isfinite(vlm["decode_ms_per_token"])
    assert saved["ways"]["fast"]["fast_path"]["vlm_static_cache"] == "active"
    assert saved["ways"]["fast"]["continuations"]["n"] == 2
    checks = saved["checks"]
    assert checks["default_equals_stock"]["passed"] and checks["default_equals_stock"]["same_prompt"]
    assert checks["default_equals_stock"]["max_abs_diff"] <= 1e-3
    assert checks["fast_psnr_db"]["passed"]
    assert "| stock |" in bench.markdown(record) and "| fast |" in bench.markdown(record)


def test_pipeline_e2e_repeats_report_medians_and_their_range(tmp_path):
    bench = load("pipeline_e2e")
    argv = ["--preset", "tiny", "--ways", "stock,default", "--continuations", "0", "--new-tokens", "4"]
    record = bench.main([*argv, "--repeats", "3"])
    for way, result in record["ways"].items():
        assert "error" not in result, result.get("traceback")
        low, high = result["total_range_s"]
        assert result["repeats"] == 3 and low <= result["total_s"] <= high, (way, result)
        assert len(result["calls_s"]) == 3 and sorted(c["total_s"] for c in result["calls_s"])[1] == result["total_s"]
    assert record["settings"]["interleaved"] == ["stock", "default"]
    assert record["checks"]["default_equals_stock"]["passed"]
    assert "medians of 3 timed calls per way (stock and default in turn)" in bench.markdown(record)
    with pytest.raises(SystemExit):
        bench.parse_args([*argv, "--repeats", "0"])


def test_pipeline_e2e_ablation_offload_and_fp8_ways(tmp_path):
    bench = load("pipeline_e2e")
    argv = ["--preset", "tiny", "--ways", "default,fast:static_cache", "--continuations", "0", "--offload", "group"]
    record = bench.main(argv + ["--new-tokens", "4"])
    assert record["ways"].keys() == {"default", "fast:static_cache", "offload_group"}
    assert record["ways"]["fast:static_cache"]["fast_path"]["batched_answers"] == "off: batched_answers=False"
    assert record["checks"]["offload_group_max_abs_diff"]["value"] <= 1e-5
    record = bench.main(["--preset", "tiny", "--ways", "default", "--continuations", "0", "--fp8", "--new-tokens", "4"])
    fp8 = record["ways"]["fp8"]
    # the fast way's pieces and fp8, which says why it is off on the CPU; the frames stay the default's
    assert fp8["fast_path"]["fp8"] == "off: the transformer is on cpu; float8 matrix products need a CUDA device"
    assert fp8["fast_path"]["batched_answers"] == "active"
    assert record["checks"]["fp8_psnr_db"]["passed"]


def test_pipeline_e2e_refuses_unknown_pieces():
    bench = load("pipeline_e2e")
    with pytest.raises(SystemExit):
        bench.parse_args(["--preset", "tiny", "--ways", "fast:turbo"])


def test_pipeline_latency_is_the_stock_and_default_ways():
    wrapper = load("pipeline_latency")
    assert wrapper.arguments(["--tiny", "--steps", "2"])[:6] == [
        "--preset",
        "tiny",
        "--ways",
        "stock,default",
        "--continuations",
        "0",
    ]
    assert "--steps" in wrapper.arguments([]) and "50" in wrapper.arguments([])
    assert wrapper.arguments(["--frames", "9", "--max-new-tokens", "4", "--no-offload"])[-4:] == [
        "--num-frames",
        "9",
        "--new-tokens",
        "4",
    ]


def test_fast_path_quality_on_foresight_tiny_reports_no_verdict_when_nothing_numeric_is_active(tmp_path):
    """On the CPU only the static cache is on: the trained model's prompts and descriptions must stay the
    same, the frames equal, and the script must not claim the float8 bound either way."""
    bench = load("fast_path_quality")
    out = tmp_path / "quality.json"
    result = bench.main(["--device", "cpu", "--num-clips", "1", "--fp8", "--out", str(out)])
    assert json.loads(out.read_text())["num_clips"] == 1
    assert result["command"] == f"python benchmarks/fast_path_quality.py --device cpu --num-clips 1 --fp8 --out {out}"
    assert result["fast_path"]["fp8"].startswith("off: the transformer is on cpu")
    assert result["active_pieces_asked_for"] == [] and result["bound_met"] is None
    assert result["same_prompts"] == 1 and result["same_descriptions"] == 1
    assert math.isinf(result["psnr_min_db"])
    assert result["clips"][0]["description_default"]  # the trained VLM answers (a random one says nothing)


def test_vlm_fp8_decode_quantizes_only_the_language_models_decoder_linears():
    """The float8 ways must leave the vision tower and ``lm_head`` in bf16: the layers it selects are the
    seven projections of each decoder layer, nothing else."""
    from foresight_models import testing

    bench = load("vlm_fp8_decode")
    vlm = testing.tiny_pipeline().vlm
    names = bench.language_model_linears(vlm)
    layers = vlm.config.text_config.num_hidden_layers
    projections = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert len(names) == 7 * layers
    assert {name.rsplit(".", 1)[1] for name in names} == projections
    assert not any("visual" in name or "lm_head" in name for name in names)
    with pytest.raises(SystemExit):
        bench.parse_args(["--ways", "stock,eager_fp8"])
