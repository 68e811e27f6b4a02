"""File-backed images through the data module: decoded in DataLoader workers, batches of the right images."""

from __future__ import annotations

import torch
from torch.utils.data import get_worker_info

from tests.data.fixture_sources import SIZE, clevr_source, jsonl_source
from vqa.data import ImageFiles, VQADataModule
from vqa.data.images import load_image


class WorkerOnlyImages(ImageFiles):
    """Refuses to decode outside a DataLoader worker process."""

    def get(self, indices):
        if get_worker_info() is None:
            raise RuntimeError("decoded in the main process")
        return super().get(indices)

    def subset(self, keep):
        return WorkerOnlyImages(super().subset(keep).paths, self.size)


def test_images_are_decoded_in_workers():
    datamodule = VQADataModule(jsonl_source(), batch_size=4, num_workers=2, group_by_image=False)
    split = datamodule.split("train")
    split.images = WorkerOnlyImages(split.images.paths, split.images.size)
    records = datamodule.dataset("train").records
    seen = 0
    for batch in datamodule.train_dataloader():
        for row in range(len(batch["index"])):
            record = records[int(batch["index"][row])]
            expected = load_image(split.images.paths[record.image], SIZE)
            assert torch.equal(batch["images"][batch["image_index"][row]], expected)
            seen += 1
    assert seen == len(records)


def test_empty_test_split_is_served_as_an_empty_loader():
    datamodule = VQADataModule(clevr_source(), batch_size=4)
    assert len(datamodule.split("test").records) == 0
    assert len(datamodule.test_dataloader()) == 0
    assert "type/count" in [g for g in datamodule.vocab.groups]
