"""Fusion modules: every strategy behind one contract (`fusion.base.Fusion`), selectable by name.

Standalone: imports torch and nothing from `vqa`, so any model can use it.

>>> from fusion import create_fusion, list_fusions
>>> f = create_fusion("cross_attention", img_dim=128, txt_dim=256, out_dim=512)
"""

from __future__ import annotations

from typing import Any

from fusion.base import FUSIONS, Fused, Fusion, register_fusion
from fusion.bilinear import BlockFusion, MFBFusion, MFHFusion, MLBFusion, MutanFusion
from fusion.cross_attention import CrossAttentionFusion
from fusion.early import EarlyConcatFusion, EarlyFusion
from fusion.film import FiLMFusion
from fusion.guided_attention import GuidedAttentionFusion
from fusion.late import LateConcatFusion, LateFusion, LateProductFusion, LateScoreFusion, LateSumFusion
from fusion.relation_network import RelationNetworkFusion


def create_fusion(name: str, img_dim: int, txt_dim: int, **kwargs: Any) -> Fusion:
    """Build the fusion registered as `name` for the given input widths (importing `fusion` registers them all)."""
    return FUSIONS.create(name, img_dim, txt_dim, **kwargs)


def list_fusions() -> list[str]:
    """Names of all registered fusions."""
    return FUSIONS.names()


__all__ = [
    "FUSIONS",
    "Fused",
    "Fusion",
    "EarlyFusion",
    "LateFusion",
    "CrossAttentionFusion",
    "EarlyConcatFusion",
    "LateConcatFusion",
    "LateProductFusion",
    "LateScoreFusion",
    "LateSumFusion",
    "MLBFusion",
    "MFBFusion",
    "MFHFusion",
    "MutanFusion",
    "BlockFusion",
    "GuidedAttentionFusion",
    "FiLMFusion",
    "RelationNetworkFusion",
    "create_fusion",
    "list_fusions",
    "register_fusion",
]
