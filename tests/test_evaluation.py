import functools
import json

import numpy as np
import pytest
import torch

from foresight_models.evaluation import METRICS, EvaluationReport, Metric, evaluate, save_clip_folder
from foresight_models.evaluation.statistics import Comparison, bootstrap_ci, compare


def _linear_clips(n: int = 16, frames: int = 6, seed: int = 0) -> torch.Tensor:
    """Clips whose pixels move linearly in time and stay in [0, 1]: ``x_i = base + i * v``."""
    g = torch.Generator().manual_seed(seed)
    base = 0.2 + 0.4 * torch.rand(n, 1, 3, 12, 12, generator=g)
    velocity = 0.02 + 0.03 * torch.rand(n, 1, 3, 1, 1, generator=g)
    return base + velocity * torch.arange(frames, dtype=torch.float32).view(1, frames, 1, 1, 1)


def _dataset(clips: torch.Tensor, context: int = 3) -> list[dict[str, torch.Tensor]]:
    return [{"context": c[:context], "future": c[context:]} for c in clips]


# -- statistics -----------------------------------------------------------------------------------


def test_compare_better_by_construction_is_significant():
    g = torch.Generator().manual_seed(0)
    b = torch.rand(40, generator=g)
    a = b - 0.05 + 0.01 * torch.randn(40, generator=g)
    c = compare(a, b)
    assert c.p_value < 0.01 and c.p_wilcoxon < 0.01
    assert c.ci95[1] < 0 and abs(c.mean_diff - float((a - b).double().mean())) < 1e-9
    assert c.n == 40 and abs(c.mean_a - float(a.double().mean())) < 1e-9


def test_compare_identical_predictors():
    scores = torch.rand(30, generator=torch.Generator().manual_seed(1))
    c = compare(scores, scores.clone())
    assert c.p_value == 1.0 and c.p_wilcoxon == 1.0 and c.mean_diff == 0.0
    assert c.ci95[0] <= 0.0 <= c.ci95[1]


def test_compare_matches_scipy_and_bootstrap_is_seeded():
    from scipy import stats

    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(25, generator=g), torch.rand(25, generator=g)
    c = compare(a, b)
    assert Comparison.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.p_value == pytest.approx(stats.ttest_rel(a.numpy(), b.numpy()).pvalue)
    assert c.p_wilcoxon == pytest.approx(stats.wilcoxon(a.numpy(), b.numpy()).pvalue)
    assert c.ci95[0] < 0 < c.ci95[1]  # two samples of the same distribution
    diff = (a - b).numpy()
    assert bootstrap_ci(diff, seed=3) == bootstrap_ci(diff, seed=3)
    low, high = bootstrap_ci(diff, seed=3)
    assert low < diff.mean() < high


def test_compare_bad_input():
    with pytest.raises(ValueError, match="same samples"):
        compare(torch.rand(5), torch.rand(4))
    with pytest.raises(ValueError, match="NaN or infinite"):
        compare(torch.tensor([1.0, float("nan")]), torch.rand(2))
    with pytest.raises(ValueError, match="at least 2"):
        compare(torch.rand(1), torch.rand(1))
    with pytest.raises(ValueError, match="1-d"):
        compare(torch.rand(2, 2), torch.rand(2, 2))


# -- evaluate -----------------------------------------------------------------------------------


def test_evaluate_scores_baselines_per_sample_and_horizon():
    clips = _linear_clips()
    report = evaluate({}, _dataset(clips), metrics=("pixel_l1", "ssim", "temporal_ratio"), batch_size=5)
    assert report.predictors == ["copy", "extrapolate"] and report.horizons == [1, 2, 3]
    copy_l1 = report.horizon_scores["copy"]["pixel_l1"]
    assert copy_l1.shape == (16, 3)
    # copying frame 2 to frame 2 + h misses by h * |v| per pixel
    velocity = (clips[:, 1] - clips[:, 0]).flatten(1).mean(1)
    torch.testing.assert_close(copy_l1, velocity[:, None] * torch.tensor([1.0, 2.0, 3.0]), rtol=1e-4, atol=1e-6)
    # extrapolation is exact on linear motion, with the real clip's motion
    torch.testing.assert_close(report.scores["extrapolate"]["pixel_l1"], torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(report.scores["extrapolate"]["temporal_ratio"], torch.ones(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(report.scores["copy"]["temporal_ratio"], torch.zeros(16))
    rows = {(r["model"], r["metric"]): r for r in report.rows()}
    assert rows[("extrapolate", "pixel_l1")]["p"] < 0.01 and rows[("extrapolate", "pixel_l1")]["verdict"] == "better"
    assert rows[("extrapolate", "ssim")]["improvement"] > 0
    torch.testing.assert_close(report.horizon_curve("copy", "pixel_l1"), copy_l1.mean(0))


def test_evaluate_clip_predictors_uint8_frames_and_custom_metrics():
    clips = _linear_clips(n=6, frames=5)
    frames = [{"frames": (c * 255).round().to(torch.uint8)} for c in clips]

    class Oracle:
        predicts_clip = True

        def __call__(self, context, num_frames):
            step = context[:, -1:] - context[:, -2:-1]
            return context[:, -1:] + step * torch.arange(1, num_frames + 1.0).view(1, -1, 1, 1, 1)

    custom = {"max_error": lambda p, t: (p - t).abs().flatten(1).amax(1)}
    report = evaluate(
        {"oracle": Oracle()}, frames, metrics=custom, baselines=("copy",), context_frames=2, horizons=[1, 3]
    )
    assert report.horizons == [1, 3] and report.horizon_scores["oracle"]["max_error"].shape == (6, 2)
    # uint8 was scaled to [0, 1]: rounding to 1/255 bounds the oracle's error
    assert float(report.scores["oracle"]["max_error"].max()) < 3.5 / 255
    assert report.higher_is_better == {"max_error": None}


def test_evaluate_with_synthetic_motion_dataset():
    from foresight_models.data.synthetic import SyntheticMotion

    report = evaluate({}, SyntheticMotion(4, frames=5, size=16), metrics=("pixel_l1",), context_frames=3)
    assert report.horizon_scores["copy"]["pixel_l1"].shape == (4, 2)
    assert bool((report.horizon_scores["copy"]["pixel_l1"] >= 0).all())


def test_evaluate_bad_input():
    data = _dataset(_linear_clips(n=3))
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluate({}, [], metrics=("pixel_l1",))
    with pytest.raises(ValueError, match="needs 'context' and 'future'"):
        evaluate({}, [{"video": torch.rand(4, 3, 8, 8)}])
    with pytest.raises(ValueError, match="unlike the first item"):
        evaluate({}, [data[0], {"context": data[1]["context"][:2], "future": data[1]["future"]}])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate({}, data, metrics=("fid",))
    with pytest.raises(ValueError, match="clash"):
        evaluate({"copy": lambda c, horizon: c[:, -1]}, data)
    with pytest.raises(ValueError, match=r"horizons\[0\].*in \[1, 3\], got 4"):
        evaluate({}, data, horizons=[4])
    with pytest.raises(TypeError, match=r"horizons\[1\].*got 1.5"):
        evaluate({}, data, horizons=[1, 1.5])
    with pytest.raises(ValueError, match="horizons: expected at least one"):
        evaluate({}, data, horizons=[])
    with pytest.raises(ValueError, match=r"returned \(3, 3, 12\) at horizon 1"):
        evaluate({"bad": lambda c, horizon: c[:, -1, :, :, 0]}, data)
    with pytest.raises(ValueError, match="metric 'pixel_l1' failed on the predictions of 'wild'"):
        evaluate({"wild": lambda c, horizon: c[:, -1] * 5}, data, metrics=("pixel_l1",))
    with pytest.raises(ValueError, match="baselines: expected one of 'copy', 'extrapolate', got 'mean'"):
        evaluate({}, data, baselines=("mean",))
    with pytest.raises(TypeError, match="batch_size"):
        evaluate({}, data, batch_size=2.0)
    with pytest.raises(ValueError, match=r"dataset future values lie in \[1.5, 1.5\], outside value_range"):
        evaluate({}, [{"context": torch.zeros(2, 3, 12, 12), "future": torch.full((2, 3, 12, 12), 1.5)}])
    with pytest.raises(ValueError, match=r"value_range: expected low < high, got \(1.0, 0.0\)"):
        evaluate({}, data, value_range=(1.0, 0.0))
    with pytest.raises(TypeError, match=r"value_range\[1\] \(high\).*'1'"):
        evaluate({}, data, value_range=(0.0, "1"))
    with pytest.raises(TypeError, match="value_range: expected None or a"):
        evaluate({}, data, value_range=1.0)


def test_psnr_of_exact_predictions_fails_early_or_is_capped_explicitly():
    from foresight_models.metrics import psnr

    still = [{"context": torch.full((2, 3, 12, 12), 0.5), "future": torch.full((2, 3, 12, 12), 0.5)}] * 3
    with pytest.raises(ValueError, match=r"metric 'psnr' failed on the predictions of 'copy'.*max_db"):
        evaluate({}, still, metrics=("psnr",), baselines=("copy",))
    capped = Metric("psnr", functools.partial(psnr, max_db=100.0), True)
    blurred = {"blur": lambda context, horizon: context[:, -1] * 0.9}
    report = evaluate(blurred, still, metrics=[capped], baselines=("copy",))
    torch.testing.assert_close(report.scores["copy"]["psnr"], torch.full((3,), 100.0))
    (row,) = report.rows(n_resamples=100)
    assert row["model"] == "blur" and row["improvement"] < 0 and row["copy"] == 100.0
    with pytest.raises(ValueError, match=r"NaN or infinite scores at samples \[1\].*max_db"):
        compare(torch.tensor([1.0, float("inf"), 2.0]), torch.rand(3))


def test_report_round_trip_and_files(tmp_path):
    report = evaluate({}, _dataset(_linear_clips(n=8)), metrics=("pixel_l1", "psnr"))
    paths = report.save(tmp_path / "out")
    loaded = EvaluationReport.load_json(paths["json"])
    assert loaded.horizons == report.horizons and loaded.higher_is_better == report.higher_is_better
    for predictor in report.predictors:
        for metric in report.metrics:
            torch.testing.assert_close(
                loaded.horizon_scores[predictor][metric].float(), report.horizon_scores[predictor][metric]
            )
    saved = json.loads(paths["json"].read_text())
    assert saved["comparisons"][0]["model"] == "extrapolate"
    markdown = paths["markdown"].read_text()
    assert "| extrapolate | pixel_l1 |" in markdown and "| copy | pixel_l1 |" in markdown
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = str(report)
    assert "improvement" in text and "extrapolate" in text and "p (Wilcoxon)" in text


def test_builtin_metric_registry_directions():
    assert METRICS["pixel_l1"].higher_is_better is False and METRICS["ssim"].higher_is_better is True
    assert METRICS["temporal_ratio"].per == "clip"
    assert isinstance(METRICS["psnr"], Metric)


# -- probes ------------------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: extra threads only add overhead on a shared CPU
    yield
    torch.set_num_threads(threads)


def test_spatial_probe_learns_boxes_and_round_trips(tmp_path, one_thread):
    from foresight_models.evaluation.probes import SpatialProbe, evaluate_spatial_probe, train_spatial_probe

    g = torch.Generator().manual_seed(0)
    n = 80
    centre = 0.25 + 0.5 * torch.rand(n, 2, 2, generator=g)
    size = 0.1 + 0.2 * torch.rand(n, 2, 2, generator=g)
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=-1)  # (n, 2 objects, 4)
    features = boxes @ torch.randn(4, 16, generator=g) + 0.01 * torch.randn(n, 2, 16, generator=g)
    train, test = slice(0, 60), slice(60, n)
    untrained = evaluate_spatial_probe(SpatialProbe(feature_dim=16, num_queries=4), features[test], list(boxes[test]))
    probe = train_spatial_probe(features[train], list(boxes[train]), steps=120, lr=3e-3, num_queries=4)
    trained = evaluate_spatial_probe(probe, features[test], list(boxes[test]))
    assert trained["box_iou"] > 0.3 and trained["box_iou"] > untrained["box_iou"] + 0.2
    assert 0.0 <= trained["map50"] <= 1.0
    probe.save_pretrained(tmp_path / "probe")
    reloaded = SpatialProbe.from_pretrained(tmp_path / "probe")
    for a, b in zip(probe(features[test]), reloaded(features[test]), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="one \\(k, 4\\) tensor per sample"):
        train_spatial_probe(features[train], list(boxes[:3]), steps=1)
    with pytest.raises(ValueError, match="steps: expected an int >= 1, got 0"):
        train_spatial_probe(features[train], list(boxes[train]), steps=0)
    with pytest.raises(ValueError, match="lr: expected a finite number > 0.0, got -0.1"):
        train_spatial_probe(features[train], list(boxes[train]), lr=-0.1)
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_spatial_probe(probe, features[test], list(boxes[test]), iou_threshold=1.5)


def test_latent_alignment():
    from foresight_models.evaluation.probes import latent_alignment
    from foresight_models.metrics import linear_cka, recall_at_k

    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, 8, generator=g)
    y = x @ torch.randn(8, 6, generator=g) + 0.1 * torch.randn(50, 6, generator=g)
    scores = latent_alignment(x, y, k=5)
    assert set(scores) == {"linear_cka", "rbf_cka", "r2", "spearman", "recall_at_k"}
    assert scores["linear_cka"] == pytest.approx(float(linear_cka(x, y)))
    assert scores["recall_at_k"] == pytest.approx(float(recall_at_k(x, y, k=5)))
    assert scores["r2"] > 0.9
    noise = latent_alignment(x, torch.randn(50, 6, generator=g), k=5)
    assert noise["linear_cka"] < scores["linear_cka"] and noise["spearman"] < 0.3


# -- command line --------------------------------------------------------------------------------------


def test_cli_eval_with_saved_head(tmp_path, capsys):
    from foresight_models.cli import main
    from foresight_models.models.heads import QueryPredictionHead

    g = torch.Generator().manual_seed(4)
    tokens = torch.randn(6, 5, 4, 8, generator=g)  # (samples, frames, tokens, dim)
    save_clip_folder([{"context": t[:3], "future": t[3:]} for t in tokens], tmp_path / "clips")
    torch.manual_seed(0)
    head = QueryPredictionHead(
        dim=8, depth=1, heads=2, dim_head=4, num_frames=3, max_tokens=4, max_horizon=2, predict_delta=True
    )
    head.save_pretrained(tmp_path / "head")
    argv = ["eval", str(tmp_path / "clips"), "--predictor", f"head={tmp_path / 'head'}", "--metrics", "cosine"]
    status = main([*argv, "--features", "--baselines", "copy", "--out", str(tmp_path / "report")])
    assert status == 0
    printed = capsys.readouterr().out
    assert "head" in printed and "cosine" in printed
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    (row,) = saved["comparisons"]
    # an untrained delta head predicts exactly the last frame: no difference from copying it
    assert row["model"] == "head" and row["improvement"] == 0.0 and row["p"] == 1.0
    assert (tmp_path / "report" / "horizons.png").is_file() and (tmp_path / "report" / "report.md").is_file()
    np.testing.assert_allclose(saved["horizon_scores"]["head"]["cosine"], saved["horizon_scores"]["copy"]["cosine"])


def test_cli_eval_reports_bad_input(tmp_path, capsys):
    from foresight_models.cli import main

    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    save_clip_folder(
        [{"context": torch.rand(2, 3, 12, 12), "future": torch.rand(2, 3, 12, 12)}] * 2, tmp_path / "clips"
    )
    assert main(["eval", str(tmp_path / "clips"), "--predictor", "nameonly"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "clips"), "--predictor", f"x={tmp_path}"]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "clips"), "--psnr-max-db", "100"]) == 2
    assert "psnr is not among --metrics" in capsys.readouterr().err


def test_cli_eval_psnr_cap(tmp_path, capsys):
    from foresight_models.cli import main

    still = {"context": torch.full((2, 3, 12, 12), 0.5), "future": torch.full((2, 3, 12, 12), 0.5)}
    save_clip_folder([still] * 3, tmp_path / "clips")
    argv = ["eval", str(tmp_path / "clips"), "--metrics", "psnr", "--baselines", "copy", "extrapolate"]
    assert main(argv) == 2
    assert "--psnr-max-db" in capsys.readouterr().err
    assert main([*argv, "--psnr-max-db", "100", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["model"] == "extrapolate" and row["value"] == row["copy"] == 100.0 and row["p"] == 1.0


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_cli_eval_names_a_corrupt_clip_file(tmp_path, capsys, damage):
    from foresight_models.cli import main

    clips = tmp_path / "clips"
    save_clip_folder([{"context": torch.rand(2, 3, 12, 12), "future": torch.rand(2, 3, 12, 12)}] * 3, clips)
    bad = clips / "000001.safetensors"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a safetensors file")
    assert main(["eval", str(clips), "--baselines", "copy", "extrapolate"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("foresight eval: error: clip file") and "000001.safetensors" in error
    assert error.count("\n") == 1  # one line, no traceback


def test_cli_eval_refuses_a_predictor_name_given_twice(tmp_path, capsys):
    from foresight_models.cli import main

    save_clip_folder([{"context": torch.rand(2, 3, 12, 12), "future": torch.rand(2, 3, 12, 12)}] * 2, tmp_path / "c")
    argv = ["eval", str(tmp_path / "c"), "--predictor", "h=first/path", "--predictor", "h=second/path"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "--predictor" in error and "'h' is given twice" in error and "first/path" in error
