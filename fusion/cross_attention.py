"""Interactive fusion: stacked co-attention layers in which each modality attends to the other."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusion.base import Fused, Fusion, average_query_attention, register_fusion
from fusion.layers import AttentionPool, TransformerLayer


@register_fusion("cross_attention")
class CrossAttentionFusion(Fusion):
    """Two-stream co-attention: per layer, each stream runs self-attention, cross-attention to the other
    stream's previous state, and a feed-forward block (LXMERT's cross-modality encoder).

    After the last layer each stream is pooled (self-attentive pooling) and the two vectors are concatenated
    and projected.

    Reference: LXMERT (Tan & Bansal 2019); ViLBERT co-attention (Lu et al. 2019).

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        dim: width of both streams inside the fusion.
        num_layers: co-attention layers.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width (default 4 * dim).
        dropout: dropout in the layers.
    """

    family = "interactive"
    has_image_stream = True
    has_text_stream = True
    reference = "LXMERT (Tan & Bansal 2019); ViLBERT (Lu et al. 2019)"

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
        self.stream_dim = dim
        ffn_dim = ffn_dim or 4 * dim
        self.img_proj = nn.Linear(img_dim, dim)
        self.txt_proj = nn.Linear(txt_dim, dim)
        self.img_layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, ffn_dim, dropout, context_dim=dim) for _ in range(num_layers)
        )
        self.txt_layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, ffn_dim, dropout, context_dim=dim) for _ in range(num_layers)
        )
        self.img_pool = AttentionPool(dim)
        self.txt_pool = AttentionPool(dim)
        self.out = nn.Sequential(nn.Linear(2 * dim, out_dim), nn.LayerNorm(out_dim))

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image and question streams [B, N, dim]."""
        img = self.img_proj(img)  # (B, Ni, dim)
        txt = self.txt_proj(txt)  # (B, Nt, dim)
        record = self.record_attention
        for i, (img_layer, txt_layer) in enumerate(zip(self.img_layers, self.txt_layers)):
            new_img, img_to_txt = img_layer(img, img_mask, txt, txt_mask, need_weights=record)
            new_txt, txt_to_img = txt_layer(txt, txt_mask, img, img_mask, need_weights=record)
            img, txt = new_img, new_txt
            if record:
                self.last_attention[f"layer{i}.image_to_text"] = img_to_txt.detach()  # (B, H, Ni, Nt)
                self.last_attention[f"layer{i}.text_to_image"] = txt_to_img.detach()  # (B, H, Nt, Ni)
                self.last_attention["question_to_image"] = average_query_attention(txt_to_img, txt_mask).detach()
        img_vec = self.img_pool(img, img_mask)[0]
        txt_vec = self.txt_pool(txt, txt_mask)[0]
        joint = self.out(torch.cat([img_vec, txt_vec], dim=-1))
        return Fused(joint, img=img, img_mask=img_mask, txt=txt, txt_mask=txt_mask)
