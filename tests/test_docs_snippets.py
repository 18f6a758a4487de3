"""Every Python block of README.md and docs/ runs, or says why it cannot.

A page's ```python blocks run in order in one namespace (like the cells of a notebook), in a fresh
temporary working directory with the Hugging Face Hub offline, on the tiny components of
`foresight_models.testing`. Names a page uses without defining them (an image, a clip, a trained
model) come from `PAGE_SETUP` below, run before the page's first block.

A block that cannot run here is marked by an HTML comment on the line right before its fence, which
the rendered page does not show::

    <!-- snippet: needs-checkpoints -->      real weights (LTX-Video, Qwen2.5-VL, DINOv2) from the Hub
    <!-- snippet: needs-gpu -->              a CUDA device
    <!-- snippet: needs-data -->             a dataset that is not shipped (Something-Something v2)
    <!-- snippet: needs-network -->          the Hugging Face Hub (an account, a token)
    <!-- snippet: serves -->                 starts a web server that runs until it is stopped

Several reasons are separated by commas. Adding a page or a block needs nothing here unless the
block uses names it does not define: then add them to `PAGE_SETUP[page]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]

SKIP_REASONS = {
    "needs-checkpoints": "needs real checkpoints from the Hugging Face Hub",
    "needs-gpu": "needs a CUDA device",
    "needs-data": "needs a dataset that is not shipped",
    "needs-network": "needs the Hugging Face Hub",
    "serves": "starts a web server that runs until it is stopped",
}
MARKER = re.compile(r"^<!--\s*snippet:\s*(?P<reasons>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")

# What a page's blocks use without defining it: run once per page, before its first block.
_VIDEO_CLIP = """
import torch
from foresight_models import write_video
_t = torch.linspace(0, 1, 80).view(80, 1, 1, 1)
_x = torch.linspace(0, 1, 64).view(1, 1, 1, 64)
write_video((((_x + _t) % 1.0) * torch.ones(80, 3, 64, 64) * 255).to(torch.uint8), "clip.webm", fps=12,
            options={"deadline": "realtime", "cpu-used": "8"})
"""
PAGE_SETUP: dict[str, str] = {
    "README.md": _VIDEO_CLIP
    + """
from foresight_models import LinearExtrapolation
clip = torch.rand(1, 2, 3, 56, 56)                     # (b, t, c, h, w)
context = torch.randn(1, 8, 4, 1024)                   # (b, t, n, d)
model = LinearExtrapolation(clamp=(0.0, 1.0))
""",
    "docs/adapters.md": """
import torch
from foresight_models import QueryAdapter, testing
adapter = QueryAdapter(d_in=32, d_out=32, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8)
tokens, mask = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool)
input_embeds, attention_mask = torch.randn(1, 6, 32), torch.ones(1, 6, dtype=torch.long)
processor = testing.tiny_qwen2_5_vl_processor()
text = "<|vision_start|><|image_pad|><|vision_end|>What happens next?"
images = [testing.demo_image(56)]
""",
    "docs/conditioning.md": """
from types import SimpleNamespace
import torch
from foresight_models import LTXConditioningAdapter, QueryAdapter, testing
transformer = testing.tiny_ltx_transformer()
adapter = QueryAdapter(d_in=16, d_out=32, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8)
vlm_tokens = torch.randn(1, 6, 16)
flow_matching_loss = torch.nn.functional.mse_loss
_latents = dict(num_frames=2, height=4, width=4)
loader = [
    SimpleNamespace(
        vlm_tokens=torch.randn(1, 6, 16),
        transformer_inputs=dict(
            hidden_states=torch.randn(1, 32, 8), encoder_hidden_states=torch.randn(1, 5, 32),
            encoder_attention_mask=torch.ones(1, 5), timestep=torch.tensor([500.0]), **_latents,
        ),
        target=torch.randn(1, 32, 8),
    )
    for _ in range(2)
]
""",
    "docs/data.md": _VIDEO_CLIP,
    "docs/encoder.md": """
import torch
from foresight_models import testing
dino, vlm = testing.tiny_dinov2(), testing.tiny_qwen2_5_vl()
clip = torch.rand(1, 2, 3, 56, 56)                     # (b, t, c, h, w)
image = testing.demo_image(56)
""",
    "docs/evaluation.md": """
import torch
from foresight_models import LinearExtrapolation, SyntheticMotion
model = LinearExtrapolation(clamp=(0.0, 1.0))
dataset = SyntheticMotion(16, frames=8, size=64)
_g = torch.Generator().manual_seed(0)
train_tokens, test_tokens = torch.randn(16, 4, 32, generator=_g), torch.randn(8, 4, 32, generator=_g)
train_boxes = [torch.tensor([[0.1, 0.1, 0.5, 0.5]])] * 16   # xyxy, normalised to [0, 1]
test_boxes = [torch.tensor([[0.1, 0.1, 0.5, 0.5]])] * 8
vlm_features, video_latents = torch.randn(64, 32, generator=_g), torch.randn(64, 16, generator=_g)
""",
    "docs/heads.md": """
import torch
from foresight_models import QueryPredictionHead
head = QueryPredictionHead(dim=32, depth=1, heads=4, dim_head=8, num_frames=4, max_tokens=8)
context = torch.randn(2, 3, 8, 32)                     # (b, t, n, d)
""",
}


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the first code line
    code: str
    reasons: tuple[str, ...]  # empty: the block runs


def parse_blocks(text: str, page: str) -> list[Block]:
    """The ```python blocks of a Markdown text with the reasons of their `snippet:` marker (if any)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, lang, indent = match["fence"], match["lang"].lower(), len(match["indent"])
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence[0] * len(fence)):
            end += 1
        if lang in ("python", "py"):
            marker = MARKER.match(lines[i - 1].strip()) if i > 0 else None
            reasons = tuple(r.strip() for r in marker["reasons"].split(",")) if marker else ()
            code = "\n".join(line[indent:] for line in lines[i + 1 : end])
            blocks.append(Block(page, i + 2, code, reasons))
        i = end + 1
    return blocks


def python_blocks(page: str) -> list[Block]:
    return parse_blocks((ROOT / page).read_text(encoding="utf-8"), page)


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


def test_markers_are_known_and_sit_right_before_a_python_block():
    for page in PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            marker = MARKER.match(line.strip())
            if "snippet:" in line and not marker:
                pytest.fail(f"{page}:{number}: malformed snippet marker {line.strip()!r}")
            if not marker:
                continue
            unknown = [r for r in marker["reasons"].split(",") if r.strip() not in SKIP_REASONS]
            assert not unknown, f"{page}:{number}: unknown snippet marker {unknown}; known: {sorted(SKIP_REASONS)}"
            following = lines[number] if number < len(lines) else ""
            assert following.strip() in ("```python", "```py"), (
                f"{page}:{number}: a snippet marker must be the line right before a ```python block"
            )


def test_every_setup_belongs_to_a_page_with_runnable_blocks():
    runnable = {page for page in PAGES_WITH_CODE if any(not b.reasons for b in python_blocks(page))}
    assert set(PAGE_SETUP) <= runnable, f"PAGE_SETUP for pages without runnable blocks: {set(PAGE_SETUP) - runnable}"


def test_parser_finds_blocks_and_markers():
    text = (
        "text\n```python\nx = 1\n```\n<!-- snippet: needs-gpu, needs-checkpoints -->\n```python\ny = 2\n```\n"
        "```bash\nls\n```\n- item\n  ```python\n  z = 3\n  ```\n"
    )
    assert [(b.line, b.code, b.reasons) for b in parse_blocks(text, "page.md")] == [
        (3, "x = 1", ()),
        (7, "y = 2", ("needs-gpu", "needs-checkpoints")),
        (14, "z = 3", ()),
    ]


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_page_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("FORESIGHT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = python_blocks(page)
    runnable = [block for block in blocks if not block.reasons]
    if not runnable:
        pytest.skip(f"every block of {page} is marked: " + "; ".join(sorted({r for b in blocks for r in b.reasons})))
    namespace: dict[str, object] = {"__name__": "__snippet__"}
    exec(compile(PAGE_SETUP.get(page, ""), f"<setup of {page}>", "exec"), namespace)
    for block in runnable:
        # pad with blank lines so that a traceback points at the page's own line numbers
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(ROOT / page), "exec"), namespace)
