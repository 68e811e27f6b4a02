"""Tiny models train for a few steps through Lightning: the loss falls and checkpoints are self-contained."""

import functools

import lightning.pytorch as pl
import pytest
import torch

import fusion
from vqa.models.encoders import ConvGridEncoder, GRUTextEncoder
from vqa.models.model import VQAModel
from vqa.training.module import MODEL_CONFIG_KEY, VOCAB_KEY, VQALitModule, soft_targets, warmup_cosine

SMALL_FUSION = {
    fusion.LateFusion: {},
    fusion.EarlyFusion: {"dim": 32, "num_heads": 2},
    fusion.CrossAttentionFusion: {"dim": 32, "num_heads": 2},
}


def tiny_module(datamodule, fusion_cls=fusion.LateFusion, **kwargs):
    return VQALitModule(
        functools.partial(fusion_cls, out_dim=32, **SMALL_FUSION[fusion_cls]),
        image_encoder=ConvGridEncoder(out_dim=32, channels=(8, 16, 32, 32)),
        text_encoder=functools.partial(GRUTextEncoder, embed_dim=16, hidden_dim=32),
        vocab=datamodule.vocab_dict,
        head_hidden=32,
        warmup_steps=1,
        lr=3e-3,
        **kwargs,
    )


def trainer(tmp_path, **kwargs):
    defaults = dict(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    return pl.Trainer(**{**defaults, **kwargs})


@pytest.mark.parametrize("fusion_cls", [fusion.LateFusion, fusion.EarlyFusion, fusion.CrossAttentionFusion])
def test_loss_falls_on_a_fixed_batch(tiny_datamodule, fusion_cls):
    module = tiny_module(tiny_datamodule, fusion_cls)
    batch = tiny_datamodule.dataset("train").__getitems__(list(range(32)))
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    targets = soft_targets(batch["answer_ids"], batch["answer_scores"], len(tiny_datamodule.vocab.answers))
    losses = []
    for _ in range(25):
        loss = module.compute_loss(module(batch), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_fit_and_test_through_lightning(tiny_datamodule, tmp_path, loss):
    module = tiny_module(tiny_datamodule, loss=loss)
    run = trainer(tmp_path, max_epochs=3)
    run.fit(module, datamodule=tiny_datamodule)
    fitted = dict(run.callback_metrics)
    metrics = run.test(module, datamodule=tiny_datamodule, verbose=False)[0]
    assert 0.0 <= metrics["test/acc"] <= 100.0
    assert {"test/acc/family/relational", "test/acc/type/shape", "test/loss"} <= set(metrics)
    assert {"train/loss_epoch", "val/acc", "val/acc/family/relational"} <= set(fitted)


def test_checkpoint_carries_model_config_and_vocabulary(tiny_datamodule, tmp_path):
    module = tiny_module(tiny_datamodule)
    run = trainer(tmp_path, max_steps=2)
    run.fit(module, datamodule=tiny_datamodule)
    path = tmp_path / "model.ckpt"
    run.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    rebuilt = VQAModel.from_config(checkpoint[MODEL_CONFIG_KEY])
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    rebuilt.load_state_dict(state)
    assert checkpoint[VOCAB_KEY]["answers"] == tiny_datamodule.vocab.answers.answers
    batch = tiny_datamodule.dataset("test").__getitems__([0, 1, 2])
    module.eval(), rebuilt.eval()
    args = (batch["images"], batch["token_ids"], batch["token_mask"], batch["image_index"])
    torch.testing.assert_close(rebuilt(*args), module.model(*args))


def test_parameter_groups_apply_multipliers_and_skip_decay_on_norms(tiny_datamodule):
    module = tiny_module(tiny_datamodule, image_encoder_lr_multiplier=4.0, weight_decay=0.1)
    groups = module.parameter_groups()
    grouped = [p for g in groups for p in g["params"]]
    assert len(grouped) == len({id(p) for p in grouped}) == sum(1 for _ in module.model.parameters())
    image = {id(p) for p in module.model.image_encoder.parameters()}
    for group in groups:
        in_image = {id(p) in image for p in group["params"]}
        assert len(in_image) == 1
        assert group["lr"] == pytest.approx(module.hparams.lr * (4.0 if in_image.pop() else 1.0))
        if group["weight_decay"]:
            assert all(p.ndim >= 2 for p in group["params"])


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert 0.1 < warmup_cosine(55, 10, 100, 0.1) < 1.0


def test_group_by_image_batches_cover_every_question_once(tiny_datamodule):
    loader = tiny_datamodule.train_dataloader()
    seen = torch.cat([batch["index"] for batch in loader])
    assert sorted(seen.tolist()) == list(range(len(tiny_datamodule.dataset("train"))))
    batch = next(iter(loader))
    assert batch["images"].shape[0] < batch["token_ids"].shape[0], "questions of one image share its encoding"
    assert batch["images"].dtype == torch.uint8
