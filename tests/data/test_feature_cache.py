"""The feature cache: computed once, memory-mapped, keyed by encoder and weights, never read when partial."""

import functools

import lightning.pytorch as pl
import pytest
import torch

import fusion
from vqa.data import VQADataModule
from vqa.data.feature_cache import CachedFeatures, build_cache, cache_key
from vqa.data.records import InMemoryImages
from vqa.models.encoders import ConvGridEncoder, GRUTextEncoder
from vqa.training.module import VQALitModule


def frozen_encoder(seed: int = 0) -> ConvGridEncoder:
    torch.manual_seed(seed)
    encoder = ConvGridEncoder(out_dim=16, channels=(8, 16)).eval()
    encoder.requires_grad_(False)
    return encoder


def images(n: int = 10) -> InMemoryImages:
    return InMemoryImages(
        torch.randint(0, 256, (n, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    )


def test_cache_holds_the_encoder_output(tmp_path):
    encoder, store = frozen_encoder(), images()
    cache = build_cache(encoder, store, tmp_path, batch_size=4)
    fields = cache.batch_fields(torch.tensor([1, 7]))
    expected, mask = encoder(store.get(torch.tensor([1, 7])).float() / 255)
    torch.testing.assert_close(fields["image_tokens"].float(), expected, atol=2e-3, rtol=2e-3)
    assert fields["image_tokens"].dtype == torch.float16 and torch.equal(fields["image_mask"], mask)


def test_cache_is_reused_and_keyed_by_weights_and_images(tmp_path, monkeypatch):
    encoder, store = frozen_encoder(), images()
    first = build_cache(encoder, store, tmp_path)
    calls = []
    monkeypatch.setattr(ConvGridEncoder, "forward", lambda *a: calls.append(1))
    again = build_cache(encoder, store, tmp_path)
    assert again.directory == first.directory and not calls, "a complete cache is read, not recomputed"
    assert cache_key(frozen_encoder(seed=1), store) != cache_key(encoder, store)
    assert cache_key(encoder, images(9)) != cache_key(encoder, store)


def test_only_frozen_encoders_are_cached(tmp_path):
    with pytest.raises(ValueError, match="only a frozen image encoder"):
        build_cache(ConvGridEncoder(out_dim=16, channels=(8, 16)), images(), tmp_path)


def test_a_killed_build_leaves_nothing_that_reads_as_a_cache(tmp_path, monkeypatch):
    encoder, store = frozen_encoder(), images(10)
    original = ConvGridEncoder.forward
    calls = []

    def dies_on_second_batch(self, pixels):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, pixels)

    monkeypatch.setattr(ConvGridEncoder, "forward", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        build_cache(encoder, store, tmp_path, batch_size=4)
    assert list(tmp_path.iterdir()) == [], "no partial cache folder may remain"


def test_training_with_a_frozen_encoder_reads_the_cache(tiny_clevr, tmp_path):
    datamodule = VQADataModule(tiny_clevr, batch_size=16, feature_cache_dir=str(tmp_path / "cache"))
    image_encoder = ConvGridEncoder(out_dim=16, channels=(8, 16, 16, 16))
    image_encoder.requires_grad_(False)
    module = VQALitModule(
        functools.partial(fusion.LateFusion, out_dim=16),
        image_encoder=image_encoder,
        text_encoder=functools.partial(GRUTextEncoder, embed_dim=8, hidden_dim=16),
        vocab=datamodule.vocab_dict,
        head_hidden=16,
        warmup_steps=1,
    )
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=datamodule)
    assert isinstance(datamodule.dataset("train").images, CachedFeatures)
    assert len(list((tmp_path / "cache").iterdir())) == 2, "one cache per split used (train, val)"
    batch = datamodule.dataset("train").__getitems__([0, 1])
    assert "images" not in batch and batch["image_tokens"].shape[-1] == 16
    metrics = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    assert 0 <= metrics["test/acc"] <= 100
