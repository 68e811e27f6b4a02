"""The `vqa` command end to end on a tiny generated dataset, and its error messages."""

import json

import pytest

from tests.conftest import TINY_CONFIG
from vqa.cli import main


@pytest.fixture()
def tiny_args(tmp_path):
    return [
        "-c",
        str(TINY_CONFIG),
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        f"--trainer.default_root_dir={tmp_path}",
    ]


def test_fit_validate_test_predict(tiny_args, tmp_path):
    main(
        [
            "fit",
            *tiny_args,
            "--trainer.max_epochs=2",
            "--trainer.enable_checkpointing=true",
            "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
            f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}",
            "--trainer.callbacks.save_last=true",
        ]
    )
    checkpoint = tmp_path / "ckpt" / "last.ckpt"
    assert checkpoint.exists()
    main(["validate", *tiny_args, f"--ckpt_path={checkpoint}"])
    main(["test", *tiny_args, f"--ckpt_path={checkpoint}"])
    out = tmp_path / "predictions.jsonl"
    main(["predict", *tiny_args, f"--ckpt_path={checkpoint}", f"--predictions.path={out}", "--predictions.top_k=2"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 8 * 2 * 4  # every test question once
    assert len(lines[0]["predictions"]) == 2 and lines[0]["question"].endswith("?")


@pytest.mark.parametrize("fusion", ["early", "late", "cross_attention"])
def test_fit_with_each_shipped_fusion_config(tiny_args, fusion):
    from tests.conftest import CONFIGS

    main(
        [
            "fit",
            *tiny_args,
            "-c",
            str(CONFIGS / "fusion" / f"{fusion}.yaml"),
            "--trainer.fast_dev_run=2",
            "--model.fusion.init_args.out_dim=16",
            "--model.fusion.init_args.num_heads=2",
        ]
        if fusion != "late"
        else ["fit", *tiny_args, "-c", str(CONFIGS / "fusion" / f"{fusion}.yaml"), "--trainer.fast_dev_run=2"]
    )


def test_unknown_fusion_is_a_clear_error(tiny_args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny_args, "--model.fusion=fusion.NoSuchFusion"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "model.fusion" in err and "NoSuchFusion" in err


def test_bad_config_value_is_a_clear_error(tiny_args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny_args, "--data.batch_size=many"])
    assert exit_info.value.code == 2
    assert "data.batch_size" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error_without_traceback(tiny_args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                *tiny_args,
                "--data.source=vqa.data.EasyVQA",
                f"--data.source.init_args.root={tmp_path / 'none'}",
                "--trainer.fast_dev_run=1",
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: easy-VQA questions file not found" in err and "Traceback" not in err
