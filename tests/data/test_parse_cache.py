"""The fast VQA v2 path and its caches give exactly what the careful reader gives, and are never silently stale:
columns vs records, cache hits vs fresh parses, changed files, damaged cache entries."""

from __future__ import annotations

import json
import os
import random
import warnings

import numpy as np
import pytest
import torch

from tests.data.fixture_sources import vqa_v2_source
from vqa.data import VQADataModule
from vqa.data.columns import Ragged, Strings
from vqa.data.record_table import RecordTable
from vqa.data.sources import json_stream
from vqa.data.sources.json_stream import NotStreamable, stream_array
from vqa.data.sources.vqa_v2 import VQAv2
from vqa.data.vocab import AnswerVocab, soft_score
from vqa.models.encoders.tokenizer import WordTokenizer

SPLITS = ("train", "val", "test")


def _records(source, split):
    return [(r.image, r.question, r.answers, r.types, r.meta) for r in source.read(split).records]


def _everything(source):
    """Records, image paths, vocabulary and encoded tensors of every split, through a data module."""
    datamodule = VQADataModule(source, WordTokenizer(max_length=6), batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = {"vocab": datamodule.vocab.to_dict()}
        for split in SPLITS:
            dataset = datamodule.dataset(split)
            result[split] = [_records(source, split), datamodule.split(split).images.paths]
            result[split] += [getattr(dataset, k) for k in ("token_ids", "answer_ids", "answer_scores", "groups")]
            result[split] += [dataset.image_index, dataset.unanswerable, dataset.unknown_answers]
    messages = [str(w.message) for w in caught]
    result["warnings"] = sorted(m for m in messages if "cache entry" not in m)
    return result, [m for m in messages if "cache entry" in m]


def _assert_same(a, b):
    a, b = a[0], b[0]  # (result, cache warnings): the warnings about damaged caches are checked apart
    assert a.keys() == b.keys()
    assert a["vocab"] == b["vocab"] and a["warnings"] == b["warnings"]
    for split in SPLITS:
        for x, y in zip(a[split], b[split]):
            if isinstance(x, torch.Tensor):
                assert x.dtype == y.dtype and torch.equal(x, y)
            else:
                assert x == y


def test_columns_give_the_records_of_the_careful_reader(monkeypatch):
    fast = vqa_v2_source()
    assert isinstance(fast.read("train").records, RecordTable)
    monkeypatch.setattr(VQAv2, "read_table", lambda self, split: None)  # the entry-by-entry path
    careful = vqa_v2_source()
    for split in SPLITS:
        assert _records(fast, split) == _records(careful, split)
        assert fast.read(split).images.paths == careful.read(split).images.paths


def test_cache_hit_gives_what_a_fresh_parse_gives(fixture_copy, tmp_path):
    root = fixture_copy("vqa_v2")
    fresh = _everything(vqa_v2_source(root))
    first = _everything(vqa_v2_source(root, cache_dir=str(tmp_path / "cache")))  # parses, writes the caches
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [e.split("-")[1] for e in entries] == ["test", "train", "val"]
    assert any((tmp_path / "cache" / e / "derived").is_dir() for e in entries)  # vocabulary and encoded splits
    second = vqa_v2_source(root, cache_dir=str(tmp_path / "cache"))
    assert second.read("train").records.origin is not None  # loaded from the cache
    _assert_same(fresh, first)
    _assert_same(fresh, _everything(second))


def test_a_changed_file_is_parsed_again(fixture_copy, tmp_path):
    root = fixture_copy("vqa_v2")
    cache = str(tmp_path / "cache")
    assert vqa_v2_source(root, cache_dir=cache).read("train").records[0].answers[0] != "changed"
    annotations = root / "v2_mscoco_train2014_annotations.json"
    data = json.loads(annotations.read_text())
    question_id = json.loads((root / "v2_OpenEnded_mscoco_train2014_questions.json").read_text())["questions"][0]
    row = next(a for a in data["annotations"] if a["question_id"] == question_id["question_id"])
    row["answers"][0]["answer"] = "changed"
    stat = annotations.stat()
    annotations.write_text(json.dumps(data))
    os.utime(annotations, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `cp -p` would: only the ctime tells
    assert vqa_v2_source(root, cache_dir=cache).read("train").records[0].answers[0] == "changed"
    assert len([p for p in (tmp_path / "cache").iterdir() if "-train-" in p.name]) == 1  # the old entry is gone


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage_json"])
def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(fixture_copy, tmp_path, damage):
    root = fixture_copy("vqa_v2")
    cache = tmp_path / "cache"
    expected = _records(vqa_v2_source(root, cache_dir=str(cache)), "train")
    entry = next(p for p in cache.iterdir() if "-train-" in p.name)
    target = {"truncate": "records/answers.codes.npy", "delete": "images.offsets.npy"}.get(
        damage, "records/values.json"
    )
    path = entry / target
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_text("{not json")
    with pytest.warns(UserWarning, match="parse cache entry .* is damaged"):
        again = vqa_v2_source(root, cache_dir=str(cache))
        assert _records(again, "train") == expected
    assert _records(vqa_v2_source(root, cache_dir=str(cache)), "train") == expected  # rewritten, whole


def test_a_damaged_derived_entry_is_recomputed_with_a_warning(fixture_copy, tmp_path):
    root = fixture_copy("vqa_v2")
    cache = str(tmp_path / "cache")
    expected = _everything(vqa_v2_source(root, cache_dir=cache))
    for path in (tmp_path / "cache").glob("*/derived/encoded-*/token_ids.npy"):
        path.write_bytes(b"broken")
    again = _everything(vqa_v2_source(root, cache_dir=cache))
    _assert_same(expected, again)
    assert any("derived cache entry" in m and "is damaged" in m for m in again[1])


def test_a_malformed_file_still_gets_its_error_with_a_cache(fixture_copy, tmp_path):
    root = fixture_copy("vqa_v2")
    path = root / "v2_mscoco_train2014_annotations.json"
    path.write_text(path.read_text()[:500])
    with pytest.raises(Exception, match="not valid JSON \\(line"):
        vqa_v2_source(root, cache_dir=str(tmp_path / "cache")).read("train")


# ---- the streaming JSON reader -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_stream_array_matches_json_load_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", chunk)
    data = {"info": {"a": [1, 2.5e3, None]}, "items": [12345, 'x\\"y', {"k": [True, False]}, [], -0.5, "ü"], "z": 7}
    path = tmp_path / "f.json"
    path.write_text("\ufeff" + json.dumps(data, indent=1), encoding="utf-8")
    fields = {}
    assert list(stream_array(path, "items", fields)) == data["items"]
    assert fields == {"info": data["info"], "z": 7}


@pytest.mark.parametrize(
    "text",
    [
        '{"items": [1, 2',
        '{"items": [1,]}',
        '{"items": 3}',
        "[1]",
        '{"items": [1]} x',
        '{"a": 1}',
        '{"items": [], "items": []}',
    ],
)
def test_stream_array_refuses_what_json_load_refuses_or_what_is_not_one_array(tmp_path, text):
    path = tmp_path / "f.json"
    path.write_text(text)
    with pytest.raises(NotStreamable):
        list(stream_array(path, "items", {}))


# ---- columns ---------------------------------------------------------------------------------------------------


def test_encode_column_matches_the_soft_score_of_each_question():
    rng = random.Random(0)
    lists = [[rng.choice("abcdefg") for _ in range(rng.choice([0, 1, 3, 10]))] for _ in range(300)]
    vocab = AnswerVocab.build(lists, min_count=30)
    ids, scores = vocab.encode(lists)
    for row, answers in enumerate(lists):
        expected = {}
        for answer in answers:  # in order of first mention, as Counter gives them
            if answer in vocab.index and vocab.index[answer] not in expected:
                expected[vocab.index[answer]] = np.float32(soft_score(answers.count(answer), len(answers)))
        width = len(expected)
        assert ids[row, :width].tolist() == list(expected)
        assert scores[row, :width].tolist() == list(expected.values())
        assert not scores[row, width:].any()


def test_strings_and_ragged_take_and_round_trip(tmp_path):
    strings = Strings.from_list(["What?", "", "ünïcode ✓", "x"])
    strings.save(tmp_path, "s")
    loaded = Strings.load(tmp_path, "s")
    rows = np.array([2, 0, 2, 1])
    assert loaded.to_list() == ["What?", "", "ünïcode ✓", "x"] and loaded[-1] == "x"
    assert loaded.take(rows).to_list() == ["ünïcode ✓", "What?", "ünïcode ✓", ""]
    ragged = Ragged.from_lists([["a", "b"], [], ["b", "b", "c"]])
    assert [ragged[i] for i in range(3)] == [["a", "b"], [], ["b", "b", "c"]]
    assert [ragged.take(np.array([2, 1, 0]))[i] for i in range(3)] == [["b", "b", "c"], [], ["a", "b"]]
    assert ragged.counts().tolist() == [1, 3, 1]


# ---- the sampler's shuffle, without one tensor per image ------------------------------------------------------


def test_grouped_sampler_order_is_that_of_shuffling_every_group():
    from vqa.data.dataset import ImageGroupedBatchSampler

    image_index = torch.tensor([3, 0, 3, 1, 1, 1, 4, 0, 2, 3, 3])
    sampler = ImageGroupedBatchSampler(image_index, batch_size=4, seed=5)
    # the former implementation: one tensor per image, every group shuffled with its own randperm
    order = torch.argsort(image_index, stable=True)
    groups = [g for g in torch.split(order, torch.bincount(image_index).tolist()) if len(g)]
    for epoch in range(3):
        generator = torch.Generator().manual_seed(5 + epoch)
        image_order = torch.randperm(len(groups), generator=generator)
        expected = torch.cat([groups[i][torch.randperm(len(groups[i]), generator=generator)] for i in image_order])
        assert torch.equal(torch.cat(sampler.epoch_batches(epoch)), expected)
    singles = ImageGroupedBatchSampler(torch.arange(7), batch_size=3, seed=2)
    generator = torch.Generator().manual_seed(2)
    assert torch.cat(singles.epoch_batches(0)).tolist() == torch.randperm(7, generator=generator).tolist()
