"""The fusion table: every registered fusion with its family, reference and parameter count at one size.

    python -m fusion.summary                                   # img 512, txt 512, out 512 (the docs' standard)
    python -m fusion.summary --img-dim 2048 --txt-dim 1024     # e.g. region features + a BERT-size encoder

Every other constructor argument keeps its default (each fusion's paper size, e.g. MCAN-small for
`guided_attention`). Fusions are built on the meta device, so nothing is allocated.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from fusion import FUSIONS, list_fusions


def summarize(img_dim: int = 512, txt_dim: int = 512, out_dim: int = 512) -> list[dict[str, Any]]:
    """One row per registered fusion: name, family, reference, parameters, whether it exposes attention."""
    rows = []
    for name in list_fusions():
        cls = FUSIONS.get(name)
        with torch.device("meta"):
            fusion = cls(img_dim, txt_dim, out_dim=out_dim)
        rows.append(
            {
                "name": name,
                "class": cls.__name__,
                "family": cls.family,
                "reference": cls.reference,
                "parameters": sum(p.numel() for p in fusion.parameters()),
                "attention": fusion.exposes_attention,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, grouped by family (early, late, interactive)."""
    order = {"early": 0, "late": 1, "interactive": 2}
    lines = [
        "| name | class | family | reference | parameters | question_to_image |",
        "|---|---|---|---|---:|:---:|",
    ]
    for r in sorted(rows, key=lambda r: (order.get(r["family"], 3), r["name"])):
        lines.append(
            f"| `{r['name']}` | `{r['class']}` | {r['family']} | {r['reference']} | {r['parameters'] / 1e6:.2f} M | "
            f"{'yes' if r['attention'] else ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--img-dim", type=int, default=512, help="width of the image tokens")
    parser.add_argument("--txt-dim", type=int, default=512, help="width of the question tokens")
    parser.add_argument("--out-dim", type=int, default=512, help="width of the joint vector")
    args = parser.parse_args(argv)
    print(
        f"Parameters at img_dim={args.img_dim}, txt_dim={args.txt_dim}, out_dim={args.out_dim}, other arguments "
        "at their defaults.\n"
    )
    print(markdown(summarize(args.img_dim, args.txt_dim, args.out_dim)), end="")


if __name__ == "__main__":
    main()
