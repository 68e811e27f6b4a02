"""`vqa benchmark`: run a suite (`vqa.benchmarks.grid`), or `vqa benchmark compare` two finished runs.

vqa benchmark -c configs/benchmark/quick.yaml
vqa benchmark compare results/quick_before results/quick
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def main(args: Sequence[str] | None = None) -> Any:
    """Dispatch on the first argument: `compare` compares two runs, anything else runs a suite."""
    args = list(args or [])
    if args[:1] == ["compare"]:
        from vqa.benchmarks.compare import main as compare_main  # no Lightning needed to compare

        return compare_main(args[1:])
    from vqa.benchmarks.grid import main as grid_main

    return grid_main(args)
