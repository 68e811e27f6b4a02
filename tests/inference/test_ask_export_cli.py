"""`vqa export` and `vqa ask` end to end through `vqa.cli.main`."""

from __future__ import annotations

import json

import pytest

import vqa
from vqa.cli import main


def test_export_then_ask_with_json_output(trained, tmp_path, capsys):
    out = tmp_path / "bundle"
    main(["export", str(trained.checkpoint), str(out)])
    assert f"wrote model bundle {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]

    image, question = str(trained.image_files[0]), trained.questions[0]
    main(["ask", "--model", str(out), "--image", image, "--question", question, "--top-k", "3", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["question"] == question and result["image"] == image
    expected = vqa.load(trained.checkpoint, device="cpu").answer(image, question, top_k=3)
    assert [a["answer"] for a in result["answers"]] == [a.answer for a in expected]
    assert [a["probability"] for a in result["answers"]] == pytest.approx([a.probability for a in expected], abs=1e-6)


def test_ask_text_output_several_questions_and_attention_map(trained, tmp_path, capsys):
    image = str(trained.image_files[1])
    attention = tmp_path / "attn.png"
    main(
        [
            "ask",
            "--model",
            str(trained.checkpoint),
            "--image",
            image,
            "--device",
            "cpu",
            "--question",
            trained.questions[0],
            "--question",
            "What is this?",
            "--top-k",
            "2",
            "--attention-map",
            str(attention),
        ]
    )
    out = capsys.readouterr().out
    assert out.count("Q: ") == 2 and "  1. " in out and "  2. " in out and "  3. " not in out
    assert f"attention map written to {attention}" in out
    assert attention.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--model", "{tmp}/nothing", "--image", "{image}", "--question", "what?"], "error: model not found"),
        (["--model", "{ckpt}", "--image", "{tmp}/none.png", "--question", "what?"], "error: image file not found"),
        (["--model", "{ckpt}", "--image", "{image}", "--question", " "], "error: question #0 is empty"),
        (["--model", "{ckpt}", "--image", "{image}", "--question", "what?", "--top-k", "99"], "error: top_k must be"),
    ],
)
def test_ask_reports_user_errors_in_one_line(trained, tmp_path, capsys, arguments, message):
    values = {"tmp": tmp_path, "image": trained.image_files[0], "ckpt": trained.checkpoint}
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", *[a.format(**values) for a in arguments], "--device", "cpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err and "Traceback" not in err


def test_export_of_a_non_checkpoint_fails_cleanly(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", str(trained.image_files[0]), str(tmp_path / "out")])
    assert "is not a PyTorch checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
