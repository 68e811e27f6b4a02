"""Interactive fusion: MCAN's encoder-decoder of self-attention and question-guided attention units."""

from __future__ import annotations

from torch import Tensor, nn

from fusion.base import Fused, Fusion, register_fusion
from fusion.layers import MultiHeadAttention


class MCANFeedForward(nn.Sequential):
    """MCAN's position-wise MLP: Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim))


class SelfAttentionUnit(nn.Module):
    """SA unit (post-norm, as in MCAN): x = LN(x + MHA(x, x)); x = LN(x + FFN(x))."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.ffn = MCANFeedForward(dim, ffn_dim, dropout)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x [B, N, dim], mask [B, N] -> [B, N, dim]."""
        x = self.norm_attn(x + self.drop(self.attn(x, x, mask)[0]))
        return self.norm_ffn(x + self.drop(self.ffn(x)))


class GuidedAttentionUnit(nn.Module):
    """SGA unit (post-norm): self-attention on x, then x attends to the guide y, then the FFN.

    Returns the updated x and, when asked, the guided-attention weights [B, heads, Nx, Ny].
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.guided_attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.ffn = MCANFeedForward(dim, ffn_dim, dropout)
        self.norm_self = nn.LayerNorm(dim)
        self.norm_guided = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, x_mask: Tensor, y: Tensor, y_mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x [B, Nx, dim] guided by y [B, Ny, dim] -> x [B, Nx, dim], weights or None."""
        x = self.norm_self(x + self.drop(self.self_attn(x, x, x_mask)[0]))
        guided, weights = self.guided_attn(x, y, y_mask, need_weights)
        x = self.norm_guided(x + self.drop(guided))
        return self.norm_ffn(x + self.drop(self.ffn(x))), weights


class AttentionReduction(nn.Module):
    """MCAN's AttFlat: an MLP scores each token, a softmax over real tokens per glimpse, the weighted sums of the
    glimpses are concatenated and merged by a linear layer.

    Args:
        dim: token width.
        hidden_dim: hidden width of the scoring MLP.
        glimpses: attention maps.
        out_dim: width of the reduced vector.
        dropout: dropout in the scoring MLP.
    """

    def __init__(self, dim: int, hidden_dim: int, glimpses: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, glimpses)
        )
        self.merge = nn.Linear(glimpses * dim, out_dim)

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [B, N, dim], mask [B, N] -> vector [B, out_dim] and weights [B, glimpses, N]."""
        scores = self.score(tokens).transpose(1, 2)  # (B, G, N)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(dim=-1)
        return self.merge((weights @ tokens).flatten(1)), weights


@register_fusion("guided_attention")
class GuidedAttentionFusion(Fusion):
    """MCAN encoder-decoder: deep modular co-attention.

    * Encoder: `num_layers` self-attention (SA) units on the question.
    * Decoder: `num_layers` self-guided-attention (SGA) units on the image: image self-attention, then image
      tokens attend to the encoder's final question tokens, then an FFN.
    * Each output sequence is reduced by its own attention reduction (AttFlat); the two vectors are added and
      layer-normalized: z = LayerNorm(AttFlat(X) + AttFlat(Y)).

    Units are post-norm with ReLU feed-forward blocks, as in the paper. The defaults are MCAN-small (hidden 512,
    6 layers, 8 heads, FFN 2048, dropout 0.1, AttFlat MLP 512 with 1 glimpse, fused width 1024). The paper feeds
    the question through an LSTM and the image as region features; here both arrive as tokens from the
    encoders and are projected linearly to the hidden width.

    Attention exposed while recording: `question_to_image` [B, Ni] is the image AttFlat map (which the question
    has guided through every decoder layer); `question_reduction` [B, Nt] the question AttFlat map; and
    `layer{i}.image_to_question` [B, heads, Ni, Nt] each decoder layer's guided-attention weights.

    Reference: Yu et al. 2019, "Deep Modular Co-Attention Networks for Visual Question Answering" (CVPR).

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector (MCAN: 1024).
        dim: hidden width of the units.
        num_layers: SA units in the encoder and SGA units in the decoder.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width.
        dropout: dropout in attention, feed-forward blocks, residual branches and AttFlat.
        flat_hidden: hidden width of the AttFlat scoring MLP.
        flat_glimpses: AttFlat attention maps per modality.
    """

    family = "interactive"
    has_image_stream = True
    reference = "Yu et al. 2019, Deep Modular Co-Attention Networks (MCAN), encoder-decoder"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 1024,
        dim: int = 512,
        num_layers: int = 6,
        num_heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        flat_hidden: int = 512,
        flat_glimpses: int = 1,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.stream_dim = dim
        self.img_proj = nn.Linear(img_dim, dim)
        self.txt_proj = nn.Linear(txt_dim, dim)
        self.encoder = nn.ModuleList(SelfAttentionUnit(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))
        self.decoder = nn.ModuleList(GuidedAttentionUnit(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))
        self.img_flat = AttentionReduction(dim, flat_hidden, flat_glimpses, out_dim, dropout)
        self.txt_flat = AttentionReduction(dim, flat_hidden, flat_glimpses, out_dim, dropout)
        self.norm = nn.LayerNorm(out_dim)

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image stream [B, Ni, dim]."""
        record = self.record_attention
        y = self.txt_proj(txt)  # (B, Nt, dim)
        for unit in self.encoder:
            y = unit(y, txt_mask)
        x = self.img_proj(img)  # (B, Ni, dim)
        for i, unit in enumerate(self.decoder):
            x, weights = unit(x, img_mask, y, txt_mask, need_weights=record)
            if record:
                self.last_attention[f"layer{i}.image_to_question"] = weights.detach()  # (B, H, Ni, Nt)
        img_vec, img_weights = self.img_flat(x, img_mask)
        txt_vec, txt_weights = self.txt_flat(y, txt_mask)
        if record:
            self.last_attention["question_to_image"] = img_weights.mean(1).detach()  # (B, Ni)
            self.last_attention["question_reduction"] = txt_weights.mean(1).detach()  # (B, Nt)
        # The question stream y went through the encoder only, which never sees the image: no text stream.
        return Fused(self.norm(img_vec + txt_vec), img=x, img_mask=img_mask)
