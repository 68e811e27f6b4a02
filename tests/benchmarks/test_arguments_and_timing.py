"""The helpers every speed benchmark shares: one spelling of -c/--config, --json and --threads; one set of timers."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest
import torch

from vqa.benchmarks import curves, data_pipeline, predict_speed, speed
from vqa.benchmarks.arguments import add_common_arguments, config_arguments, set_threads
from vqa.benchmarks.timing import peak_memory_gib, synchronized_time, time_each

COMMON = ["-c", "a.yaml", "--config", "b.yaml", "--json", "out.json", "--threads", "3", "--model.lr=0.1"]


@pytest.mark.parametrize("make_parser", [speed.parser, curves.parser, data_pipeline.parser], ids=lambda f: f.__module__)
def test_speed_commands_share_config_json_and_threads(make_parser):
    args, extra = make_parser().parse_known_args(COMMON)
    assert args.config == ["a.yaml", "b.yaml"] and args.json == Path("out.json") and args.threads == 3
    assert config_arguments(args, extra) == ["-c", "a.yaml", "-c", "b.yaml", "--model.lr=0.1"]


def test_config_is_required_unless_the_command_has_defaults(capsys):
    with pytest.raises(SystemExit):
        speed.parser().parse_known_args(["--threads", "1"])
    assert "-c/--config" in capsys.readouterr().err
    args, extra = data_pipeline.parser().parse_known_args([])
    assert config_arguments(args, extra, data_pipeline.DEFAULT_CONFIGS) == [
        "-c",
        "configs/easy_vqa.yaml",
        "-c",
        "configs/fusion/cross_attention.yaml",
    ]
    # given configs replace the defaults (argparse's "append" would otherwise add to them)
    args, extra = data_pipeline.parser().parse_known_args(["-c", "mine.yaml"])
    assert config_arguments(args, extra, data_pipeline.DEFAULT_CONFIGS) == ["-c", "mine.yaml"]


def test_only_the_arguments_asked_for_are_added():
    parser = argparse.ArgumentParser()
    add_common_arguments(parser, configs=False, json_report=None)
    assert parser.parse_args(["--threads", "2"]) == argparse.Namespace(threads=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--json", "x.json"])


def test_set_threads_applies_only_a_given_count():
    before = torch.get_num_threads()
    try:
        set_threads(argparse.Namespace(threads=None))
        assert torch.get_num_threads() == before
        set_threads(argparse.Namespace(threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_predict_speed_takes_threads_only():
    args = predict_speed.parser().parse_args(["--threads", "2"])
    assert args.threads == 2 and not hasattr(args, "config") and not hasattr(args, "json")


def test_time_each_times_every_call_after_the_warmup():
    calls = []

    def call():
        calls.append(1)
        time.sleep(0.02)

    times = time_each(call, repeats=3, device=torch.device("cpu"), warmup=2)
    assert len(calls) == 5 and len(times) == 3
    assert all(0.02 <= t < 1.0 for t in times)
    start = synchronized_time(torch.device("cpu"))
    assert synchronized_time(torch.device("cpu")) >= start


def test_cpu_peak_memory_covers_a_large_allocation():
    block = torch.ones(64 * 2**20, dtype=torch.uint8)  # 64 MiB, touched
    assert peak_memory_gib(torch.device("cpu")) >= 64 / 1024
    del block
