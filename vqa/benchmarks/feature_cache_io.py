"""The feature cache at scale (part of `vqa speed scale`): build rate, bytes on disk and random-access read rate of
`vqa.data.feature_cache` over many images, against the rate of decoding the image files it replaces.

* decode: `ImageFiles.get` (what every batch does without the cache: PIL decode of a COCO-sized 640 x 480 JPEG,
  RGB, bilinear resize) on random batches, in one process;
* build: `build_cache` with a frozen grid encoder. Decoding every file once is what a real build adds to the
  encoder's time; to keep the benchmark short the images are decoded once per distinct file (16 files, each
  linked many times) and served from memory, so the build rate measures the encoder and the writes, and the
  report adds the decode time back for the end-to-end estimate;
* read: `CachedFeatures.batch_fields` on random batches of sorted indices (as the data module asks), with the
  cache files in the page cache (warm) and after evicting them with `posix_fadvise` (cold: read from disk).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vqa.data.feature_cache import CachedFeatures, build_cache
from vqa.data.image_files import ImageFiles
from vqa.data.records import ImageStore
from vqa.models.encoders.image import ConvGridEncoder

DISTINCT_FILES = 16  # each linked N / 16 times: under ext4's 65,000 hard links per file up to a million images


def write_image_files(folder: Path, count: int, size: tuple[int, int] = (480, 640)) -> list[str]:
    """`count` JPEG files of COCO's usual size under `folder`: `DISTINCT_FILES` photos-like images (smooth colour
    fields with noise, about 100 KB each), hard-linked (symbolic links where hard links fail)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    height, width = size
    sources = []
    for k in range(DISTINCT_FILES):
        source = folder / f".source_{k}.jpg"
        if not source.exists():
            y, x = np.mgrid[0:height, 0:width]
            base = np.stack([(x * (k + 1)) % 256, (y * 2 + k * 16) % 256, ((x + y) // 3) % 256], axis=-1)
            noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(source, quality=90)
        sources.append(source)
    paths = []
    for i in range(count):
        target = folder / f"{i:07d}.jpg"
        if not target.exists():
            try:
                os.link(sources[i % DISTINCT_FILES], target)
            except OSError:
                os.symlink(sources[i % DISTINCT_FILES].name, target)  # relative: the folder can move
        paths.append(str(target))
    return paths


class _DecodedOnce(ImageStore):
    """The images of `files` where image i is a link to distinct file i % DISTINCT_FILES: each distinct file is
    decoded once and served from memory (the build then times the encoder and the writes only)."""

    def __init__(self, files: ImageFiles) -> None:
        self.files = files
        self.pixels = files.get(torch.arange(min(DISTINCT_FILES, len(files))))

    def __len__(self) -> int:
        return len(self.files)

    def get(self, indices: Tensor) -> Tensor:
        return self.pixels[torch.as_tensor(indices) % len(self.pixels)]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.files.image_size

    def fingerprint(self) -> str:
        return self.files.fingerprint()


def _rate(call, batches: list[Tensor]) -> float:
    """Images per second of `call` over `batches` (one untimed warm-up call first)."""
    call(batches[0])
    begin = time.perf_counter()
    for batch in batches:
        call(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - begin)


def _evict(folder: Path) -> None:
    """Drop the cache's files from the page cache, so that the next read comes from the disk."""
    for path in folder.glob("*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure_feature_cache(
    folder: Path,
    count: int,
    image_size: int = 224,
    batch_size: int = 256,
    read_batches: int = 40,
    source_size: tuple[int, int] = (480, 640),
    decode_batches: int = 6,
) -> dict[str, Any]:
    """Build a feature cache over `count` images under `folder` and time decoding, building and reading.

    Args:
        folder: where the image links and the cache go (the cache is rebuilt: its time is the point).
        count: images.
        image_size: side of the square images the decoder and the encoder see.
        batch_size: images per read batch (the data module reads a batch's distinct images at once).
        read_batches: random batches timed for each read rate.
        source_size: (height, width) of the JPEG files (COCO's usual size).
        decode_batches: random batches of 64 images timed for the decode rate.
    """
    generator = torch.Generator().manual_seed(0)
    files = ImageFiles(write_image_files(folder / "images", count, source_size), (image_size, image_size))
    decode_rate = _rate(files.get, [torch.randint(0, count, (64,), generator=generator) for _ in range(decode_batches)])
    # A frozen grid encoder of 7 x 7 tokens of width 256 at 224 px (the shape of ResNet-style grid features),
    # made narrow inside so that encoding 100,000 images takes minutes, not an hour, on two CPU cores.
    encoder = ConvGridEncoder(out_dim=256, channels=(4, 8, 16, 32, 256))
    encoder.requires_grad_(False)
    root = folder / "feature_cache"
    shutil.rmtree(root, ignore_errors=True)
    begin = time.perf_counter()
    cache = build_cache(encoder, _DecodedOnce(files), root)
    build_s = time.perf_counter() - begin
    disk_bytes = sum(p.stat().st_size for p in cache.directory.iterdir() if p.is_file())
    read_batches_ = [torch.randint(0, count, (batch_size,), generator=generator).unique() for _ in range(read_batches)]
    warm_rate = _rate(cache.batch_fields, read_batches_)
    directory, shape = cache.directory, list(cache.tokens.shape[1:])
    del cache  # unmapped first: pages still mapped by a process are not evicted
    _evict(directory)
    cold = CachedFeatures(directory)  # a fresh memory map after the eviction
    cold_batches = [torch.randint(0, count, (batch_size,), generator=generator).unique() for _ in range(read_batches)]
    cold_rate = sum(len(b) for b in cold_batches) / _timed(lambda: [cold.batch_fields(b) for b in cold_batches])
    build_rate = count / build_s
    return {
        "images": count,
        "image_size": image_size,
        "source_size": list(source_size),
        "tokens_per_image": shape,
        "decode_images_per_s": decode_rate,
        "build_s": build_s,
        "build_images_per_s": build_rate,
        "build_with_decode_images_per_s": 1 / (1 / build_rate + 1 / decode_rate),
        "disk_bytes": disk_bytes,
        "disk_bytes_per_image": disk_bytes / count,
        "read_warm_images_per_s": warm_rate,
        "read_cold_images_per_s": cold_rate,
        "read_cold_vs_decode": cold_rate / decode_rate,
        "read_warm_vs_decode": warm_rate / decode_rate,
    }


def _timed(call) -> float:
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


def format_feature_cache(report: dict[str, Any]) -> str:
    """A Markdown table of `measure_feature_cache` output."""
    tokens = "x".join(str(t) for t in report["tokens_per_image"])
    return "\n".join(
        [
            f"feature cache over {report['images']:,} images ({report['image_size']} px, tokens {tokens} float16)",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| decode JPEG {report['source_size'][1]}x{report['source_size'][0]} -> {report['image_size']} px (no cache) | {report['decode_images_per_s']:,.0f} images/s |",
            f"| build: encoder + writes | {report['build_images_per_s']:,.0f} images/s ({report['build_s']:.0f} s) |",
            f"| build incl. decoding each file once (estimate) | {report['build_with_decode_images_per_s']:,.0f} images/s |",
            f"| size on disk | {report['disk_bytes'] / 2**30:.2f} GiB ({report['disk_bytes_per_image'] / 1024:.1f} KiB per image) |",
            f"| random read, warm page cache | {report['read_warm_images_per_s']:,.0f} images/s ({report['read_warm_vs_decode']:,.0f}x decoding) |",
            f"| random read, cold (evicted) | {report['read_cold_images_per_s']:,.0f} images/s ({report['read_cold_vs_decode']:,.0f}x decoding) |",
        ]
    )
