"""The 10M vs 100M adapter study (``docs/research.md``), one line per configuration.

Sizes each adapter kind (query, bottleneck, perceiver) to a parameter budget for Qwen2.5-VL-7B
tokens (width 3584) -> LTX-Video conditioning tokens (width 4096), and the rank a peft LoRA on the
7B language model's q_proj / v_proj needs for the same budgets. Everything is built on the meta
device: no weights are allocated or downloaded.

    python examples/adapter_budget.py
    python examples/adapter_budget.py --budgets 10e6 50e6 100e6 --num-tokens 64
"""

from __future__ import annotations

import argparse

import torch

from foresight_models.models.adapters import build_adapter, count_parameters
from foresight_models.models.lora_adapter import LoRAAdapter
from foresight_models.presets import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-in", type=int, default=3584, help="input token width (Qwen2.5-VL-7B: 3584)")
    parser.add_argument("--d-out", type=int, default=4096, help="output token width (LTX-Video: 4096)")
    parser.add_argument("--num-tokens", type=int, default=32, help="output tokens k")
    parser.add_argument("--budgets", type=float, nargs="+", default=[10e6, 100e6], help="parameter budgets")
    parser.add_argument("--no-lora", action="store_true", help="skip the LoRA lines (they build the 7B on meta)")
    args = parser.parse_args()

    budgets = [int(b) for b in args.budgets]
    for kind in ("query", "bottleneck", "perceiver"):
        parts = []
        for budget in budgets:
            with torch.device("meta"):
                adapter = build_adapter(
                    kind, d_in=args.d_in, d_out=args.d_out, num_tokens=args.num_tokens, target_params=budget
                )
            sizes = ", ".join(f"{k}={v}" for k, v in adapter.config.items() if k in ("dim", "depth", "hidden_dim"))
            parts.append(f"{budget / 1e6:g}M: {count_parameters(adapter) / 1e6:.2f}M ({sizes})")
        print(f"{kind:<10} " + "  vs  ".join(parts))

    if not args.no_lora:
        vlm = build("qwen2.5-vl-7b", device="meta")
        per_rank = LoRAAdapter.lora_parameters_per_rank(vlm, LoRAAdapter(d_in=3584).target_pattern())
        parts = []
        for budget in budgets:
            rank = LoRAAdapter.rank_for_budget(vlm, budget)
            parts.append(
                f"{budget / 1e6:g}M: {rank * per_rank / 1e6:.2f}M (r={rank} on q_proj/v_proj of qwen2.5-vl-7b)"
            )
        print(f"{'lora':<10} " + "  vs  ".join(parts))


if __name__ == "__main__":
    main()
