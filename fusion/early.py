"""Early fusion: image and question are joined at the input and processed jointly from then on.

`early` is a single-stream joint Transformer; `early_concat` concatenates features token-wise before a shared MLP.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusion.base import Fused, Fusion, masked_mean, register_fusion
from fusion.geometry import DistanceBias, token_positions
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
        distance_bias: add a learned per-head function of the distance between image tokens to their attention
            logits in every layer (`fusion.geometry.DistanceBias`); the image tokens must end with their (x, y)
            position in [0, 1] (object tokens, region features with box centres). For questions about the
            closest or furthest object.
    """

    family = "early"
    has_image_stream = True
    has_text_stream = True
    reference = "VisualBERT (Li et al. 2019); ViLT (Kim et al. 2021); distance bias: Hu et al. 2018"

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
        distance_bias: bool = False,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.stream_dim = dim
        self.num_heads = num_heads
        self.img_proj = nn.Sequential(nn.Linear(img_dim, dim), nn.LayerNorm(dim))
        self.txt_proj = nn.Sequential(nn.Linear(txt_dim, dim), nn.LayerNorm(dim))
        self.modality = nn.Parameter(torch.zeros(2, dim))  # 0 = image, 1 = text
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.modality, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, ffn_dim or 4 * dim, dropout) for _ in range(num_layers)
        )
        if distance_bias and num_layers < 2:
            raise ValueError(
                "early with distance_bias needs num_layers >= 2: image tokens exchange what the bias finds in "
                "one layer and the [CLS] token reads it in the next"
            )
        # Only the image tokens' own attention gets the bias, and the joint vector reads [CLS] after the last layer:
        # the last layer's image-to-image attention cannot reach it, so that layer has no bias (and no parameter
        # that would never get a gradient).
        self.distance_biases = (
            nn.ModuleList(DistanceBias(num_heads) for _ in range(num_layers - 1)) if distance_bias else None
        )
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image and question streams [B, N, dim]: the joint sequence's last states."""
        b, ni = img.shape[:2]
        positions = token_positions(img, img_mask, "early") if self.distance_biases is not None else None
        img = self.img_proj(img) + self.modality[0]  # (B, Ni, dim)
        txt = self.txt_proj(txt) + self.modality[1]  # (B, Nt, dim)
        x = torch.cat([self.cls.expand(b, -1, -1), img, txt], dim=1)  # (B, 1+Ni+Nt, dim)
        mask = torch.cat([img_mask.new_ones(b, 1), img_mask, txt_mask], dim=1)
        for index, layer in enumerate(self.layers):
            bias = None
            if positions is not None and index < len(self.distance_biases):  # image-to-image logits only
                distance_bias = self.distance_biases[index]
                bias = x.new_zeros(b, self.num_heads, x.shape[1], x.shape[1])  # (B, H, N, N); rows = queries
                bias[:, :, 1 : 1 + ni, :] = distance_bias.outside()[None, :, None, None]  # image -> [CLS], words
                bias[:, :, 1 : 1 + ni, 1 : 1 + ni] = distance_bias(positions)  # image -> image
            x, _ = layer(x, mask, self_bias=bias)
        x = self.norm(x)  # (B, 1+Ni+Nt, dim)
        return Fused(self.out(x[:, 0]), img=x[:, 1 : 1 + ni], img_mask=img_mask, txt=x[:, 1 + ni :], txt_mask=txt_mask)


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
    has_image_stream = True
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
        self.stream_dim = dim
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

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image stream [B, Ni, dim]: the joint tokens after the shared MLP."""
        q = self.question_pool(txt, txt_mask)[0]  # (B, Dt)
        joint = torch.cat([img, q[:, None, :].expand(-1, img.shape[1], -1)], dim=-1)  # (B, Ni, Di + Dt)
        tokens = self.mlp(joint)  # (B, Ni, dim)
        return Fused(self.out(masked_mean(tokens, img_mask)), img=tokens, img_mask=img_mask)
