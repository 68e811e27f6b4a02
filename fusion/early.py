"""Early fusion: image and question are joined at the input and processed jointly from then on.

`early` is a single-stream joint Transformer; `early_concat` concatenates features token-wise before a shared MLP.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusion.base import Fusion, masked_mean, register_fusion
from fusion.layers import AttentionPool, TransformerLayer


@register_fusion("early")
class EarlyFusion(Fusion):
    """Single-stream joint Transformer over `[CLS] + image tokens + question tokens`.

    Each modality is projected to a shared width and tagged with a learned modality embedding; every layer
    then lets every token attend to every other, so the modalities mix from the first layer on. The joint
    vector is the final `[CLS]` state.

    Reference: VisualBERT (Li et al. 2019), ViLT (Kim et al. 2021).

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        dim: width of the joint Transformer.
        num_layers: joint Transformer layers.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width (default 4 * dim).
        dropout: dropout in the Transformer.
    """

    family = "early"
    reference = "VisualBERT (Li et al. 2019); ViLT (Kim et al. 2021)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        dim: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.img_proj = nn.Sequential(nn.Linear(img_dim, dim), nn.LayerNorm(dim))
        self.txt_proj = nn.Sequential(nn.Linear(txt_dim, dim), nn.LayerNorm(dim))
        self.modality = nn.Parameter(torch.zeros(2, dim))  # 0 = image, 1 = text
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.modality, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, ffn_dim or 4 * dim, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Tensor:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> [B, out_dim]."""
        b = img.shape[0]
        img = self.img_proj(img) + self.modality[0]  # (B, Ni, dim)
        txt = self.txt_proj(txt) + self.modality[1]  # (B, Nt, dim)
        x = torch.cat([self.cls.expand(b, -1, -1), img, txt], dim=1)  # (B, 1+Ni+Nt, dim)
        mask = torch.cat([img_mask.new_ones(b, 1), img_mask, txt_mask], dim=1)
        for layer in self.layers:
            x, _ = layer(x, mask)
        return self.out(self.norm(x[:, 0]))


@register_fusion("early_concat")
class EarlyConcatFusion(Fusion):
    """Token-level concatenation: the question summary is tiled onto every image token, `[img_i ; q]`, and one
    shared MLP processes each joint token before the tokens are averaged.

    The modalities are joined before any joint processing, at the granularity of image tokens. Question and
    image tokens do not align one to one, so the question is first reduced to one vector (self-attentive
    pooling that sees only the question), then concatenated channel-wise to every image token.

    Reference: concatenation fusion (Zhou et al. 2015, "Simple Baseline for Visual Question Answering"),
    applied per image token as in the question-conditioned MLPs of Santoro et al. 2017 (Relation Networks).

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        dim: hidden width of the shared MLP.
        num_layers: layers of the shared MLP.
        dropout: dropout inside the shared MLP.
    """

    family = "early"
    reference = "Zhou et al. 2015 (concatenation), tiled per image token as in Santoro et al. 2017"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        dim: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        if num_layers < 1:
            raise ValueError(f"early_concat needs num_layers >= 1, got {num_layers}")
        self.question_pool = AttentionPool(txt_dim)
        layers: list[nn.Module] = []
        width = img_dim + txt_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, dim), nn.ReLU(), nn.Dropout(dropout)]
            width = dim
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Linear(dim, out_dim), nn.LayerNorm(out_dim))

    def forward(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Tensor:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> [B, out_dim]."""
        q = self.question_pool(txt, txt_mask)[0]  # (B, Dt)
        joint = torch.cat([img, q[:, None, :].expand(-1, img.shape[1], -1)], dim=-1)  # (B, Ni, Di + Dt)
        return self.out(masked_mean(self.mlp(joint), img_mask))
