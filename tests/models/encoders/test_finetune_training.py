"""Fine-tuning control inside the Lightning module: what learns, at which rate, and in which mode."""

from __future__ import annotations

from functools import partial

import lightning.pytorch as pl
import pytest
import torch

from fusion import LateFusion
from vqa.data import VQADataModule
from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.models.encoders import HFImageEncoder, HFTextEncoder, HFTokenizer
from vqa.training.module import VQALitModule


def build_module(bert_dir: str, vit_dir: str, vocab: dict, text_layers, image_layers, **kwargs) -> VQALitModule:
    return VQALitModule(
        fusion=partial(LateFusion, out_dim=32),
        image_encoder=HFImageEncoder(vit_dir, trainable_layers=image_layers),
        text_encoder=partial(HFTextEncoder, model=bert_dir, trainable_layers=text_layers),
        vocab=vocab,
        head_hidden=32,
        warmup_steps=2,
        **kwargs,
    )


def test_parameter_groups_with_multipliers_and_layer_decay(tiny_bert_dir, tiny_vit_dir):
    vocab = Vocabulary(HFTokenizer(tiny_bert_dir), AnswerVocab(["yes", "no"]), []).to_dict()
    module = build_module(
        tiny_bert_dir,
        tiny_vit_dir,
        vocab,
        text_layers="all",
        image_layers=0,
        lr=1e-3,
        text_encoder_lr_multiplier=0.1,
        layer_lr_decay=0.5,
    )
    scale_of = {}
    for group in module.parameter_groups():
        for parameter in group["params"]:
            assert id(parameter) not in scale_of, "a parameter in two groups"
            scale_of[id(parameter)] = (group["part"], group["lr_scale"], group["lr"], group["weight_decay"])
    text = module.model.text_encoder.backbone
    layers = [m for n, m in text.named_modules() if n.endswith(("layer", "layers"))][0]
    # 3 layers: embeddings at depth 0 get 0.5^4, layer i at depth i+1 gets 0.5^(3-i), the pooler 0.5^0.
    word_embeddings = text.get_input_embeddings().weight
    assert scale_of[id(word_embeddings)][:2] == ("text_encoder", pytest.approx(0.1 * 0.5**4))
    assert scale_of[id(word_embeddings)][3] == 0.0  # embeddings never decay
    for i, layer in enumerate(layers):
        for parameter in layer.parameters():
            part, scale, lr, _ = scale_of[id(parameter)]
            assert part == "text_encoder" and scale == pytest.approx(0.1 * 0.5 ** (3 - i))
            assert lr == pytest.approx(1e-3 * scale)
    for parameter in text.pooler.parameters():
        assert scale_of[id(parameter)][1] == pytest.approx(0.1)
    # the frozen image encoder is in no group; fusion and head learn at the base rate with weight decay
    assert not any(id(p) in scale_of for p in module.model.image_encoder.parameters())
    head_weight = module.model.head[0].weight
    assert scale_of[id(head_weight)] == ("fusion_and_head", 1.0, 1e-3, 0.01)
    trainable = [p for p in module.parameters() if p.requires_grad]
    assert len(scale_of) == len(trainable)


class ModeRecorder(pl.Callback):
    """Records, at every training batch, which encoder parts are in training mode."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool, bool, bool]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        model = module.model
        text_layers = [m for n, m in model.text_encoder.backbone.named_modules() if n.endswith(("layer", "layers"))][0]
        self.seen.append(
            (model.training, model.image_encoder.backbone.training, text_layers[0].training, text_layers[-1].training)
        )


def test_training_leaves_frozen_parts_unchanged_and_in_eval_mode(tiny_clevr, tiny_bert_dir, tiny_vit_dir):
    datamodule = VQADataModule(tiny_clevr, tokenizer=HFTokenizer(tiny_bert_dir), batch_size=16)
    # No feature cache: the frozen ViT must run inside training steps for "frozen weights unchanged" to mean
    # anything (a cache would bypass it), and nothing may be written into the checkout's data/ folder.
    module = build_module(
        tiny_bert_dir, tiny_vit_dir, datamodule.vocab_dict, text_layers=1, image_layers=0, cache_image_features=False
    )
    before = {name: value.clone() for name, value in module.model.state_dict().items()}
    recorder = ModeRecorder()
    trainer = pl.Trainer(
        max_steps=4,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    trainer.fit(module, datamodule=datamodule)
    assert recorder.seen and all(mode == (True, False, False, True) for mode in recorder.seen)
    after = module.model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    frozen = {
        f"{part}.{name}"
        for part in ("image_encoder", "text_encoder")
        for name, p in getattr(module.model, part).named_parameters()
        if not p.requires_grad
    }
    assert frozen and not (changed & frozen), f"frozen weights moved: {sorted(changed & frozen)[:3]}"
    assert any(name.startswith("fusion.") or name.startswith("head.") for name in changed)
    text = module.model.text_encoder
    last_layer = [name for name, p in text.named_parameters() if p.requires_grad and "weight" in name]
    assert any(f"text_encoder.{name}" in changed for name in last_layer)
    # frozen BatchNorm-free ViT/BERT: also no buffer (e.g. position ids) was touched
    assert all(torch.equal(before[n], after[n]) for n in before if n.startswith("image_encoder."))
