"""Count the parameters of every architecture preset on the meta device (no memory, no download).

    python examples/count_parameters.py
"""

from __future__ import annotations

import argparse

from foresight_models.presets import PRESETS, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(PRESETS), help="preset names (default: all)")
    args = parser.parse_args()
    for name in args.names:
        model = build(name, device="meta")
        count = sum(p.numel() for p in model.parameters())
        published = PRESETS[name].num_parameters
        check = "" if published is None else ("  (matches the published figure)" if count == published else "  MISMATCH")
        print(f"{name:<28} {count:>16,}{check}")


if __name__ == "__main__":
    main()
