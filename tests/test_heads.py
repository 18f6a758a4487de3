import math

import pytest
import torch
import torch.nn.functional as F

from foresight_models.models.heads import (
    CopyLastFrame,
    LinearExtrapolation,
    MultiFrameHead,
    QueryPredictionHead,
    TemporalTransformerHead,
)
from foresight_models.models.losses import cosine_loss, info_nce_loss, mse_loss, pixel_l1_loss
from foresight_models.presets import PRESETS, build
from foresight_models.testing import constant_velocity_tokens

HEADS = [QueryPredictionHead, MultiFrameHead, TemporalTransformerHead]
TINY = {
    "dim": 8,
    "hidden_dim": 16,
    "depth": 1,
    "heads": 2,
    "dim_head": 8,
    "ff_mult": 2.0,
    "num_frames": 4,
    "max_tokens": 6,
}


def _tiny(cls, **overrides):
    torch.manual_seed(0)
    return cls(**{**TINY, **overrides})


# ---------------------------------------------------------------- baselines


def test_copy_last_frame_returns_the_last_frame_for_tokens_and_pixels():
    tokens = torch.randn(2, 3, 5, 8)
    pixels = torch.rand(2, 4, 3, 6, 7)
    assert torch.equal(CopyLastFrame()(tokens), tokens[:, -1])
    assert torch.equal(CopyLastFrame()(tokens, horizon=5), tokens[:, -1])
    assert torch.equal(CopyLastFrame()(pixels), pixels[:, -1])
    mask = torch.rand(2, 3, 5) > 0.5
    assert torch.equal(CopyLastFrame()(tokens, mask), tokens[:, -1])  # a mask is checked, copying ignores it
    assert torch.equal(CopyLastFrame()(tokens, mask[:, 0]), tokens[:, -1])
    assert list(CopyLastFrame().parameters()) == []


def test_linear_extrapolation_is_exact_on_linear_sequences():
    start, step = torch.randn(2, 1, 5, 8), torch.randn(2, 1, 5, 8)
    clip = start + step * torch.arange(4.0).view(1, 4, 1, 1)  # frames 0..3
    for horizon in (1, 3):
        expected = start[:, 0] + step[:, 0] * (3 + horizon)
        assert torch.allclose(LinearExtrapolation()(clip, horizon=horizon), expected, atol=1e-5)
    pixels = torch.stack([torch.full((3, 4, 4), v) for v in (0.2, 0.5, 0.8)])[None]  # (1, 3, c, h, w)
    assert torch.allclose(LinearExtrapolation()(pixels), torch.full((1, 3, 4, 4), 1.1))
    assert torch.allclose(LinearExtrapolation(clamp=(0.0, 1.0))(pixels), torch.ones(1, 3, 4, 4))


def test_baselines_reject_bad_input():
    with pytest.raises(ValueError, match="at least 1 frame"):
        CopyLastFrame()(torch.randn(2, 0, 5, 8))
    with pytest.raises(ValueError, match="at least 2 frame"):
        LinearExtrapolation()(torch.randn(2, 1, 5, 8))
    with pytest.raises(ValueError, match="horizon"):
        CopyLastFrame()(torch.randn(2, 3, 5, 8), horizon=0)
    with pytest.raises(ValueError, match="mask must have shape"):
        CopyLastFrame()(torch.randn(2, 3, 5, 8), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="context"):
        CopyLastFrame()([[1.0]])
    with pytest.raises(ValueError, match="clamp"):
        LinearExtrapolation(clamp=(1.0, 0.0))
    with pytest.raises(TypeError, match="clamp: expected None or a \\(low, high\\) pair of numbers, got 1.0"):
        LinearExtrapolation(clamp=1.0)
    with pytest.raises(TypeError, match=r"clamp\[1\] \(high\): expected a real number, got '1'"):
        LinearExtrapolation(clamp=(0.0, "1"))
    with pytest.raises(TypeError, match="horizon: expected an int, got 1.0"):
        CopyLastFrame()(torch.randn(2, 3, 5, 8), horizon=1.0)
    with pytest.raises(TypeError, match="boolean"):
        CopyLastFrame()(torch.randn(2, 3, 5, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match="only supported for token context"):
        CopyLastFrame()(torch.rand(2, 3, 3, 4, 4), torch.ones(2, 3, dtype=torch.bool))


# ---------------------------------------------------------------- heads: shapes, masks, causality


@pytest.mark.parametrize("cls", HEADS)
def test_head_shapes_and_horizon(cls):
    head = _tiny(cls, max_horizon=3)
    context = torch.randn(2, 3, 5, 8)
    assert head(context).shape == (2, 5, 8)
    assert head(context[:, :1]).shape == (2, 5, 8)  # fewer frames than num_frames
    assert not torch.allclose(head(context, horizon=1), head(context, horizon=3))  # horizon changes the query


@pytest.mark.parametrize("cls", HEADS)
def test_head_ignores_padding_tokens(cls):
    head = _tiny(cls).eval()
    context = torch.randn(2, 3, 5, 8)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, :, 3:] = False  # tokens 3, 4 of sample 0 are padding in every frame
    mask[1, 0, :] = False  # frame 0 of sample 1 is padding
    changed = context.clone()
    changed[0, :, 3:] = 50.0
    changed[1, 0] = -50.0
    out, out_changed = head(context, mask), head(changed, mask)
    assert torch.allclose(out[0, :3], out_changed[0, :3], atol=1e-5)
    assert torch.allclose(out[1], out_changed[1], atol=1e-5)
    assert not torch.allclose(head(context), head(changed))  # without the mask the padding is read
    # a (b, n) mask means the same tokens in every frame
    per_token = mask[0, 0].expand(2, 5)
    assert torch.allclose(head(context, per_token)[0, :3], head(changed, per_token)[0, :3], atol=1e-5)


def test_causal_temporal_head_does_not_see_later_frames():
    context = torch.randn(2, 4, 5, 8)
    changed = context.clone()
    changed[:, 2:] = torch.randn(2, 2, 5, 8)
    causal = _tiny(TemporalTransformerHead, causal=True).eval()
    out, out_changed = causal.predict_all(context), causal.predict_all(changed)
    assert torch.allclose(out[:, :2], out_changed[:, :2], atol=1e-5)
    assert not torch.allclose(out[:, 2:], out_changed[:, 2:])
    assert torch.allclose(causal(context), out[:, -1])
    bidirectional = _tiny(TemporalTransformerHead, causal=False).eval()
    assert not torch.allclose(bidirectional.predict_all(context)[:, :2], bidirectional.predict_all(changed)[:, :2])


def test_causal_temporal_head_predicts_from_every_prefix_in_one_pass():
    head = _tiny(TemporalTransformerHead, causal=True, max_horizon=2).eval()
    context = torch.randn(2, 4, 5, 8)
    mask = torch.rand(2, 4, 5) > 0.3
    mask[:, :, 0] = True
    for horizon in (1, 2):
        every = head.predict_all(context, mask, horizon=horizon)
        for i in range(4):
            prefix = head(context[:, : i + 1], mask[:, : i + 1], horizon=horizon)
            torch.testing.assert_close(every[:, i], prefix, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", HEADS)
def test_predict_delta_starts_as_copy_last_frame(cls):
    head = _tiny(cls, predict_delta=True)
    context = torch.randn(2, 3, 5, 8)
    assert torch.equal(head(context), CopyLastFrame()(context))


@pytest.mark.parametrize("cls", HEADS)
def test_head_overfits_a_small_batch(cls):
    head = _tiny(cls)
    generator = torch.Generator().manual_seed(1)
    context, target = torch.randn(4, 3, 5, 8, generator=generator), torch.randn(4, 5, 8, generator=generator)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = mse_loss(head(context), target).item()
    for _ in range(100):
        loss = mse_loss(head(context), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert mse_loss(head(context), target).item() < 0.1 * first


@pytest.mark.parametrize("cls", HEADS)
def test_head_save_load_round_trip(cls, tmp_path):
    head = _tiny(cls, predict_delta=False).eval()
    head.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path).eval()
    context = torch.randn(2, 3, 5, 8)
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(loaded.config) == public(head.config)
    assert torch.equal(loaded(context), head(context))


@pytest.mark.parametrize("cls", HEADS)
def test_head_rejects_bad_input(cls):
    head = _tiny(cls)
    with pytest.raises(ValueError, match="t=0"):
        head(torch.randn(2, 0, 5, 8))
    with pytest.raises(ValueError, match="d=7 .*dim=8"):
        head(torch.randn(2, 3, 5, 7))
    with pytest.raises(ValueError, match="num_frames=4"):
        head(torch.randn(2, 5, 5, 8))
    with pytest.raises(ValueError, match="max_tokens=6"):
        head(torch.randn(2, 3, 7, 8))
    with pytest.raises(ValueError, match="\\(b, t, n, d\\)"):
        head(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="max_horizon=1"):
        head(torch.randn(2, 3, 5, 8), horizon=2)
    with pytest.raises(TypeError, match="boolean"):
        head(torch.randn(2, 3, 5, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match="mask must have shape"):
        head(torch.randn(2, 3, 5, 8), torch.ones(2, 4, dtype=torch.bool))
    empty = torch.ones(2, 5, dtype=torch.bool)
    empty[1] = False
    with pytest.raises(ValueError, match="at least one real token in every sample"):
        head(torch.randn(2, 3, 5, 8), empty)
    with pytest.raises(TypeError, match="horizon: expected an int, got '1'"):
        head(torch.randn(2, 3, 5, 8), horizon="1")
    assert cls(dim=8).config.dim == 8  # every other argument has a default


@pytest.mark.parametrize("cls", HEADS)
@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"depth": 0}, ValueError, "depth: expected an int >= 1, got 0"),
        ({"hidden_dim": 0}, ValueError, "hidden_dim: expected an int >= 1, got 0"),
        ({"ff_mult": 0}, ValueError, "ff_mult: expected a finite number > 0.0, got 0"),
        ({"ff_mult": True}, TypeError, "ff_mult: expected a real number, got True"),
        ({"dropout": 1.0}, ValueError, r"dropout: expected a finite number in \[0.0, 1.0\), got 1.0"),
        ({"predict_delta": "yes"}, TypeError, "predict_delta: expected True or False, got 'yes'"),
    ],
)
def test_head_refuses_bad_constructor_arguments(cls, arguments, error, message):
    with pytest.raises(error, match=message):
        cls(dim=8, **arguments)


def test_temporal_head_refuses_a_non_bool_causal():
    with pytest.raises(TypeError, match="causal: expected True or False, got 1"):
        TemporalTransformerHead(dim=8, causal=1)


# ---------------------------------------------------------------- losses


def test_cosine_and_mse_losses_match_torch_references():
    pred, target = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    mask = torch.rand(3, 5) > 0.4
    mask[0, 0] = True
    reference_cos = 1 - F.cosine_similarity(pred, target, dim=-1)
    assert torch.allclose(cosine_loss(pred, target), reference_cos.mean())
    assert torch.allclose(cosine_loss(pred, target, mask), reference_cos[mask].mean())
    assert torch.allclose(mse_loss(pred, target), F.mse_loss(pred, target))
    assert torch.allclose(mse_loss(pred, target, mask), F.mse_loss(pred[mask], target[mask]))
    images, other = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.allclose(pixel_l1_loss(images, other), F.l1_loss(images, other))
    assert cosine_loss(pred, 2 * pred).abs() < 1e-6


def test_losses_reject_bad_input():
    pred = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="same shape"):
        cosine_loss(pred, torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="selects no element"):
        mse_loss(pred, pred, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape \\(2, 5\\)"):
        mse_loss(pred, pred, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one negative"):
        info_nce_loss(pred[:1], pred[:1])
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(pred, pred, temperature=0.0)
    with pytest.raises(ValueError, match="negatives must have shape"):
        info_nce_loss(pred, pred, negatives=torch.randn(2, 3, 4, 8))
    row_mask = torch.ones(2, 5, dtype=torch.bool)
    row_mask[1] = False
    with pytest.raises(ValueError, match="every sample"):
        info_nce_loss(pred, pred, mask=row_mask)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        info_nce_loss([[1.0]], pred)


def _reference_info_nce(pred, target, negatives, temperature):
    """Per-sample loop: -log softmax of the positive among in-batch targets and own negatives."""
    p = F.normalize(pred.mean(1), dim=-1)
    t = F.normalize(target.mean(1), dim=-1)
    n = F.normalize(negatives.mean(2), dim=-1)
    losses = []
    for i in range(len(p)):
        candidates = torch.cat([t, n[i]])  # positive at index i
        logits = candidates @ p[i] / temperature
        losses.append(-(logits[i] - torch.logsumexp(logits, 0)))
    return torch.stack(losses).mean()


def test_info_nce_matches_reference_and_hard_negatives_make_it_harder():
    torch.manual_seed(0)
    pred, target, negatives = torch.randn(4, 5, 8), torch.randn(4, 5, 8), torch.randn(4, 3, 5, 8)
    loss = info_nce_loss(pred, target, negatives=negatives, temperature=0.1)
    assert torch.allclose(loss, _reference_info_nce(pred, target, negatives, 0.1), atol=1e-5)
    # a same-clip negative equal to the target is indistinguishable from it: loss >= log 2
    aligned = info_nce_loss(target, target, temperature=0.05)
    hard = info_nce_loss(target, target, negatives=target[:, None], temperature=0.05)
    assert aligned < 0.05 and hard > math.log(2) - 1e-4
    # only own negatives (no in-batch) works with b=1
    single = info_nce_loss(pred[:1], target[:1], negatives=negatives[:1], in_batch=False, temperature=0.1)
    p, t, n = F.normalize(pred[0].mean(0), dim=0), F.normalize(target[0].mean(0), dim=0), negatives[0].mean(1)
    logits = torch.cat([(p @ t)[None], F.normalize(n, dim=-1) @ p]) / 0.1
    assert torch.allclose(single, -(logits[0] - torch.logsumexp(logits, 0)), atol=1e-5)


# ---------------------------------------------------------------- synthetic sanity check


def test_trained_query_head_beats_copy_on_constant_velocity_tokens():
    generator = torch.Generator().manual_seed(0)
    train = constant_velocity_tokens(4096, frames=3, generator=generator)
    held_out = constant_velocity_tokens(512, frames=3, generator=generator)
    torch.manual_seed(0)
    head = QueryPredictionHead(
        dim=16, hidden_dim=32, depth=1, heads=4, dim_head=8, ff_mult=2.0, num_frames=2, max_tokens=4, predict_delta=True
    )
    steps = 200
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for _ in range(steps):
        clip = train[torch.randint(0, len(train), (64,))]
        loss = mse_loss(head(clip[:, :-1]), clip[:, -1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        context, future = held_out[:, :-1], held_out[:, -1]
        model_cos = F.cosine_similarity(head(context), future, dim=-1).mean(-1)
        copy_cos = F.cosine_similarity(CopyLastFrame()(context), future, dim=-1).mean(-1)
    assert copy_cos.mean() < 0.99  # the objects move: copying is not perfect
    assert model_cos.mean() > copy_cos.mean() + 0.01
    assert (model_cos > copy_cos).float().mean() > 0.8  # on most held-out clips, not only on average


# ---------------------------------------------------------------- research-size preset


def test_e3_7_prediction_head_preset_reproduces_604m():
    preset = PRESETS["e3.7-query-prediction-head"]
    head = build(preset.name, device="meta")
    count = sum(p.numel() for p in head.parameters())
    assert isinstance(head, QueryPredictionHead) and head.config.dim == 3584
    assert count == preset.num_parameters
    assert abs(count - 604e6) / 604e6 < 0.005


@pytest.mark.parametrize("cls", HEADS)
def test_head_casts_float64_context_to_its_parameter_dtype(cls):
    head = _tiny(cls).eval()
    context = torch.randn(2, 3, 5, 8)
    out = head(context.double())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, head(context))


@pytest.mark.parametrize("cls", HEADS)
def test_head_refuses_integer_context_naming_the_argument_and_dtype(cls):
    head = _tiny(cls)
    with pytest.raises(TypeError, match="context must be a floating-point tensor.*torch.int64"):
        head(torch.randint(0, 5, (2, 3, 5, 8)))
    with pytest.raises(TypeError, match="context must be a floating-point tensor.*torch.bool"):
        head(torch.ones(2, 3, 5, 8, dtype=torch.bool))
