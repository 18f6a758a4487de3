import pytest
import torch

from foresight_models.presets import PRESETS, Preset, build, get_preset, register_preset

PUBLISHED_COUNTS = {
    "qwen2.5-vl-7b": 8_292_166_656,
    "ltx-video-2b-transformer": 1_923_385_472,
    "dinov2-large": 304_368_640,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_COUNTS))
def test_parameter_count_matches_published_figure(name):
    model = build(name, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_COUNTS[name]
    assert PRESETS[name].num_parameters == PUBLISHED_COUNTS[name]


def test_every_preset_names_a_hub_checkpoint_or_is_ours():
    for preset in PRESETS.values():
        assert preset.library in {"transformers", "diffusers", "timm", "foresight_models"}
        if preset.library != "foresight_models":
            assert preset.hub_id and "/" in preset.hub_id


def test_build_honours_dtype():
    model = build("dinov2-small", device="meta", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert not model.training


def test_unknown_preset_lists_known_names():
    with pytest.raises(KeyError, match="dinov2-large"):
        get_preset("dinov3-huge")


def test_non_float_dtype_is_rejected():
    with pytest.raises(TypeError, match="dtype"):
        build("dinov2-small", dtype=torch.int8)


def test_duplicate_registration_is_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_preset(Preset(name="dinov2-small", hub_id=None, library="timm", class_name="x"))


def test_preset_fields_are_checked_when_made():
    with pytest.raises(ValueError, match="library: expected one of 'transformers', 'diffusers', 'timm', .*got 'jax'"):
        Preset(name="x", hub_id=None, library="jax", class_name="X")
    with pytest.raises(TypeError, match="num_parameters: expected an int, got 1.5"):
        Preset(name="x", hub_id=None, library="timm", class_name="X", num_parameters=1.5)
    with pytest.raises(TypeError, match="preset: expected a Preset, got dict"):
        register_preset({"name": "x"})
    assert "x" not in PRESETS
