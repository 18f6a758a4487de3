import pytest
import torch
import torch.nn.functional as F

from foresight_models.metrics import framewise, psnr, temporal_consistency, temporal_ratio


def test_temporal_consistency_pixels_features_and_tokens():
    g = torch.Generator().manual_seed(0)
    clip = torch.rand(2, 4, 3, 8, 8, generator=g)
    flat = clip.flatten(2)
    expected = torch.stack(
        [
            torch.stack([F.cosine_similarity(flat[b, i], flat[b, i + 1], dim=0) for i in range(3)]).mean()
            for b in range(2)
        ]
    )
    torch.testing.assert_close(temporal_consistency(clip), expected)
    torch.testing.assert_close(temporal_consistency(flat), expected)  # (b, t, d) features
    tokens = torch.randn(2, 3, 5, 6, generator=g)
    per_token = F.cosine_similarity(tokens[:, 1:], tokens[:, :-1], dim=-1).mean(dim=(1, 2))
    torch.testing.assert_close(temporal_consistency(tokens), per_token)
    # a static clip is perfectly consistent; an encoder is applied frame by frame
    static = clip[:, :1].expand(2, 5, 3, 8, 8)
    torch.testing.assert_close(temporal_consistency(static), torch.ones(2))
    pooled = temporal_consistency(clip, encoder=lambda frames: frames.mean(dim=(2, 3)))
    torch.testing.assert_close(pooled, temporal_consistency(clip.mean(dim=(3, 4))))


def test_temporal_consistency_errors():
    with pytest.raises(ValueError, match="at least 2 entries on dimension 1"):
        temporal_consistency(torch.rand(2, 1, 3, 8, 8))
    with pytest.raises(ValueError, match="dimensions"):
        temporal_consistency(torch.rand(2, 3))
    with pytest.raises(ValueError, match="encoder must return"):
        temporal_consistency(torch.rand(2, 3, 3, 8, 8), encoder=lambda x: x)


def test_temporal_ratio():
    t = torch.arange(5.0).view(1, 5, 1, 1, 1) / 10
    real = t.expand(2, 5, 1, 2, 2).clone()
    half = real / 2
    torch.testing.assert_close(temporal_ratio(half, real), torch.full((2,), 0.5))
    frozen = real[:, :1].expand_as(real)
    torch.testing.assert_close(temporal_ratio(frozen, real), torch.zeros(2))
    with pytest.raises(ValueError, match="no motion"):
        temporal_ratio(real, frozen)
    with pytest.raises(ValueError, match="same shape"):
        temporal_ratio(real[:, :3], real)


def test_framewise_applies_image_metric_per_frame():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 1, 4, 4, generator=g), torch.rand(2, 3, 1, 4, 4, generator=g)
    scores = framewise(psnr, a, b)
    assert scores.shape == (2, 3)
    torch.testing.assert_close(scores[1, 2], psnr(a[1, 2:3], b[1, 2:3])[0])
