import pytest
import torch

from foresight_models.models.frame_decoder import SimpleFrameDecoder
from foresight_models.models.heads import CopyLastFrame
from foresight_models.models.losses import pixel_l1_loss
from foresight_models.presets import PRESETS, build

TINY = {"dim": 8, "grid": (2, 3), "out_size": (16, 24), "channels": (16, 8, 8), "blocks_per_stage": 1}


def _tiny(**overrides):
    torch.manual_seed(0)
    return SimpleFrameDecoder(**{**TINY, **overrides})


def test_decoder_output_shape_and_range():
    decoder = _tiny()
    images = decoder(torch.randn(2, 6, 8) * 10)
    assert images.shape == (2, 3, 16, 24)
    assert images.min() >= 0 and images.max() <= 1
    # the grid may differ from the base size (2x3 tokens -> 4x6 base, 224 from Qwen's 8x8 -> 14x14)
    square = SimpleFrameDecoder(dim=8, grid=8, out_size=32, channels=(8, 8, 8))
    assert square(torch.randn(1, 64, 8)).shape == (1, 3, 32, 32)


def test_decoder_overfits_a_handful_of_images():
    decoder = _tiny()
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(4, 6, 8, generator=generator)
    # smooth targets (a colour gradient per image), which a 3-stage decoder can represent
    ramp = torch.linspace(0, 1, 24).expand(16, 24)
    colours = torch.rand(4, 3, 1, 1, generator=generator)
    images = colours * ramp + (1 - colours) * (1 - ramp)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    first = decoder.loss(tokens, images).item()
    for _ in range(100):
        loss = decoder.loss(tokens, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final = decoder.loss(tokens, images).item()
    assert final < 0.1 * first  # the loss falls by at least 90%
    assert torch.allclose(decoder.loss(tokens, images), pixel_l1_loss(decoder(tokens), images))
    # better than copying the wrong image of the batch
    assert final < pixel_l1_loss(CopyLastFrame()(images.roll(1, 0)[:, None]), images).item()


def test_decoder_save_load_round_trip(tmp_path):
    decoder = _tiny().eval()
    decoder.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = SimpleFrameDecoder.from_pretrained(tmp_path).eval()
    tokens = torch.randn(2, 6, 8)
    assert loaded.grid == (2, 3) and loaded.out_size == (16, 24)
    assert torch.equal(loaded(tokens), decoder(tokens))


def test_decoder_rejects_bad_input():
    decoder = _tiny()
    with pytest.raises(ValueError, match="n=5 .*grid=\\(2, 3\\)"):
        decoder(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="d=7 .*dim=8"):
        decoder(torch.randn(2, 6, 7))
    with pytest.raises(ValueError, match="\\(b, n, d\\)"):
        decoder(torch.randn(6, 8))
    with pytest.raises(ValueError, match="divisible by"):
        SimpleFrameDecoder(dim=8, grid=(2, 2), out_size=30, channels=(8, 8, 8))
    with pytest.raises(ValueError, match=r"grid\[1\] \(width\): expected an int >= 1, got 0"):
        SimpleFrameDecoder(dim=8, grid=(2, 0))
    with pytest.raises(TypeError, match=r"grid: expected an int \(a square\) or a \(height, width\) pair"):
        SimpleFrameDecoder(dim=8, grid="8x8")
    with pytest.raises(TypeError, match=r"out_size\[0\] \(height\): expected a Python int.*got 32.0"):
        SimpleFrameDecoder(dim=8, out_size=(32.0, 32))
    with pytest.raises(TypeError, match=r"channels\[1\]: expected a Python int.*got True"):
        SimpleFrameDecoder(dim=8, channels=(8, True))
    with pytest.raises(ValueError, match="blocks_per_stage: expected an int >= 1, got 0"):
        SimpleFrameDecoder(dim=8, blocks_per_stage=0)
    with pytest.raises(ValueError, match="same shape"):
        decoder.loss(torch.randn(2, 6, 8), torch.rand(2, 3, 16, 16))


def test_decoder_casts_float64_tokens_to_its_parameter_dtype():
    decoder = _tiny().eval()
    tokens = torch.randn(2, 6, 8)
    images = decoder(tokens.double())
    assert images.dtype == torch.float32
    torch.testing.assert_close(images, decoder(tokens))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_decoder_refuses_integer_tokens_naming_the_argument_and_dtype(dtype):
    with pytest.raises(TypeError, match=f"tokens must be a floating-point tensor, got dtype {dtype}"):
        _tiny()(torch.ones(2, 6, 8, dtype=dtype))


def test_e3_7_frame_decoder_preset_reproduces_362m():
    preset = PRESETS["e3.7-simple-frame-decoder"]
    decoder = build(preset.name, device="meta")
    count = sum(p.numel() for p in decoder.parameters())
    assert isinstance(decoder, SimpleFrameDecoder) and decoder.out_size == (224, 224) and decoder.grid == (8, 8)
    assert count == preset.num_parameters
    assert abs(count - 362e6) / 362e6 < 0.005
