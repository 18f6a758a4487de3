import torch

from foresight_models.models.layers import Attention, CrossAttentionBlock, SelfAttentionBlock, masked_mean


def _reference_attention(attn: Attention, x, context, keep):
    """Plain softmax attention written out, for comparison with the SDPA path."""
    x_n = attn.norm(x)
    c_n = attn.norm_context(context)
    q = attn.to_q(x_n)
    k, v = attn.to_kv(c_n).chunk(2, dim=-1)
    b, n, _ = q.shape
    h = attn.heads
    q, k, v = (t.reshape(b, -1, h, t.shape[-1] // h).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1)
    return attn.to_out(out)


def test_attention_matches_written_out_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(16, heads=2, dim_head=8, context_dim=12, norm_context=True)
    x, context = torch.randn(2, 5, 16), torch.randn(2, 7, 12)
    keep = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    assert torch.allclose(attn(x, context, keep), _reference_attention(attn, x, context, keep), atol=1e-5)


def test_masked_context_tokens_do_not_change_the_output():
    torch.manual_seed(0)
    block = CrossAttentionBlock(16, context_dim=8, heads=2, dim_head=8)
    x, context = torch.randn(1, 3, 16), torch.randn(1, 6, 8)
    keep = torch.tensor([[True, True, True, False, False, False]])
    changed = context.clone()
    changed[:, 3:] = 100.0
    assert torch.allclose(block(x, context, keep), block(x, changed, keep), atol=1e-6)
    changed[:, 3:] = float("nan")  # whatever padding holds, NaN included
    assert torch.allclose(block(x, context, keep), block(x, changed, keep), atol=1e-6)


def test_causal_self_attention_ignores_the_future():
    torch.manual_seed(0)
    block = SelfAttentionBlock(16, heads=2, dim_head=8, causal=True)
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 16)
    assert torch.allclose(block(x)[:, :4], block(changed)[:, :4], atol=1e-6)
    assert not torch.allclose(block(x)[:, 4:], block(changed)[:, 4:])


def test_gated_cross_attention_block_starts_as_identity():
    block = CrossAttentionBlock(16, context_dim=8, heads=2, dim_head=8, gated=True)
    x = torch.randn(2, 3, 16)
    assert torch.equal(block(x, torch.randn(2, 4, 8)), x)


def test_fully_masked_query_gets_no_nan():
    attn = Attention(8, heads=1, dim_head=8)
    out = attn(torch.randn(1, 2, 8), torch.randn(1, 3, 8), torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all()


def test_fully_masked_row_receives_zeros_beside_a_normal_row():
    torch.manual_seed(0)
    attn = Attention(8, heads=2, dim_head=4)
    x, context = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    keep = torch.tensor([[False] * 4, [True, True, False, False]])
    out = attn(x, context, keep)
    # nothing to attend to: the attention output is zero, so the output projection gives zero
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    assert torch.allclose(out[1:], attn(x[1:], context[1:], keep[1:]), atol=1e-6)


def test_nan_in_an_unmasked_context_token_reaches_the_output():
    torch.manual_seed(0)
    attn = Attention(8, heads=2, dim_head=4)
    x, context = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    keep = torch.tensor([[True, True, True, False], [True, True, False, False]])
    context[0, 1] = float("nan")  # a real token of sample 0
    out = attn(x, context, keep)
    assert torch.isnan(out[0]).all()
    assert torch.isfinite(out[1]).all()


def test_masked_mean_counts_only_real_tokens():
    tokens = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(tokens, torch.tensor([[True, True, False]])).item() == 2.0
