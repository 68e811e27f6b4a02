"""Every YAML under configs/ parses and validates against the classes it names (nothing is built)."""

from pathlib import Path

import pytest
import yaml

from vqa.data.datamodule import VQADataModule
from vqa.training.cli import VQACLI
from vqa.training.module import VQALitModule

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BASES = sorted(p for p in CONFIGS.glob("*.yaml"))
PARTS = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent != CONFIGS and p.parent.name != "benchmark")
SUITES = sorted((CONFIGS / "benchmark").glob("*.yaml"))


class ParseOnlyCLI(VQACLI):
    """Parses and type-checks a configuration without instantiating anything."""

    def instantiate_classes(self) -> None:
        pass


def parse(*paths: Path):
    args = [arg for path in paths for arg in ("-c", str(path))]
    return ParseOnlyCLI(VQALitModule, VQADataModule, args=args, run=False).config


def test_there_are_configs():
    assert BASES and PARTS and SUITES


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_base_config_with_default_fusion_parses(base):
    config = parse(base, CONFIGS / "fusion" / "late.yaml")
    assert config.data.source.class_path


@pytest.mark.parametrize("part", PARTS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_part_config_parses_on_top_of_every_base(part):
    fusion_default = [] if part.parent.name == "fusion" else [CONFIGS / "fusion" / "late.yaml"]
    for base in BASES:
        parse(base, *fusion_default, part)


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_benchmark_suites_parse_and_name_existing_configs(suite):
    from jsonargparse import ArgumentParser

    from vqa.benchmarks.grid import plan, run_benchmark

    parser = ArgumentParser()
    parser.add_function_arguments(run_benchmark)
    config = parser.parse_object(yaml.safe_load(suite.read_text()))
    root = CONFIGS.parent
    encoders = {label: [str(root / f) for f in files] for label, files in (config.encoders or {}).items()}
    cells = plan(
        {k: str(root / v) for k, v in config.datasets.items()},
        {k: str(root / v) for k, v in config.fusions.items()},
        config.seeds,
        encoders,
    )
    assert cells


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_base_config_holds_data_and_model_not_the_trainer_defaults(base):
    """Checkpoints, plugins and the logger are defaults of the `vqa` command (vqa/training/defaults.py): a base
    config that repeated them would hide which settings really differ per dataset."""
    lines = base.read_text().splitlines()
    assert len(lines) <= 40, f"{base.name}: {len(lines)} lines"
    trainer = yaml.safe_load(base.read_text()).get("trainer", {})
    assert not {"callbacks", "plugins", "logger"} & set(trainer), f"{base.name} sets {sorted(trainer)}"


def test_a_base_config_can_set_the_step_checkpoint_interval():
    config = parse(CONFIGS / "easy_vqa.yaml", CONFIGS / "fusion" / "late.yaml")
    assert config.checkpoints.every_n_train_steps == 50 and config.checkpoints.best and config.checkpoints.atomic
