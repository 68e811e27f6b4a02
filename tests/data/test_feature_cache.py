"""The feature cache: computed once, memory-mapped, keyed by encoder and weights, never read when partial."""

import functools
import os
import time

import lightning.pytorch as pl
import pytest
import torch
from PIL import Image

import fusion
from vqa.data import VQADataModule
from vqa.data.feature_cache import CachedFeatures, build_cache, cache_key
from vqa.data.image_files import ImageFiles
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


def test_cache_key_changes_with_one_pixel_at_the_same_image_count():
    encoder, store = frozen_encoder(), images()
    changed = store.pixels.clone()
    changed[7, 1, 5, 5] ^= 1  # one bit of one pixel
    assert cache_key(encoder, InMemoryImages(changed)) != cache_key(encoder, store)
    assert cache_key(encoder, InMemoryImages(store.pixels.clone())) == cache_key(encoder, store)


def write_bmp(path, value: int) -> None:
    """An uncompressed 8x8 image: its file size is the same whatever the pixels."""
    Image.new("RGB", (8, 8), (value, value, value)).save(path, format="BMP")


def rewrite_later(path, value: int) -> None:
    """Rewrite `path` once the file clock has moved on (file times can be coarser than a fast rewrite)."""
    before = os.stat(path).st_ctime_ns
    while True:
        write_bmp(path, value)
        if os.stat(path).st_ctime_ns != before:
            return
        time.sleep(0.01)


@pytest.mark.parametrize("restore_mtime", [False, True], ids=["rewritten", "rewritten-mtime-restored"])
def test_cache_key_changes_when_image_files_change_at_the_same_count_and_size(tmp_path, restore_mtime):
    """The key of a folder of image files follows their content, also when a copy tool keeps the old mtime."""
    paths = [tmp_path / f"{i}.bmp" for i in range(3)]
    for i, path in enumerate(paths):
        write_bmp(path, 10 * i)
    encoder, store = frozen_encoder(), ImageFiles(paths, size=(8, 8))
    key, pixels, sizes = cache_key(encoder, store), store.get(torch.arange(3)), [os.stat(p).st_size for p in paths]
    assert cache_key(encoder, ImageFiles(paths, size=(8, 8))) == key, "unchanged files keep their key"

    old = os.stat(paths[1])
    rewrite_later(paths[1], 200)
    if restore_mtime:
        os.utime(paths[1], ns=(old.st_atime_ns, old.st_mtime_ns))  # what `cp -p` or `rsync -t` leave behind
        assert os.stat(paths[1]).st_mtime_ns == old.st_mtime_ns
    assert [os.stat(p).st_size for p in paths] == sizes and len(store) == 3
    assert not torch.equal(store.get(torch.arange(3)), pixels)
    assert cache_key(encoder, store) != key


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
        lr=1e-2,
    )
    trainer = pl.Trainer(
        max_epochs=10,
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
    cached = trainer.test(module, datamodule=datamodule, verbose=False)[0]["test/acc"]
    # It learned from the cached tokens: well above always giving the most frequent training answer (26.6 here;
    # the model gets 43.8).
    train, test = (datamodule.dataset(name) for name in ("train", "test"))
    majority_answer = int(train.__getitems__(list(range(len(train))))["answer_ids"][:, 0].mode().values)
    test_batch = test.__getitems__(list(range(len(test))))
    majority = 100.0 * float(
        ((test_batch["answer_ids"] == majority_answer) * test_batch["answer_scores"]).amax(-1).mean()
    )
    assert cached > majority + 10, (cached, majority)
    # And the tokens served from the cache are the encoder's: the same model fed pixels scores the same (float16
    # rounding of the cached tokens may flip a near tie: one question of the 64 is 1.5625 points).
    module.hparams.cache_image_features = False
    from_pixels = VQADataModule(tiny_clevr, batch_size=16, feature_cache_dir=str(tmp_path / "unused"))
    assert trainer.test(module, datamodule=from_pixels, verbose=False)[0]["test/acc"] == pytest.approx(cached, abs=1.6)
    assert not (tmp_path / "unused").exists()
