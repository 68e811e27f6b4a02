"""The HTTP API of `vqa serve` through an in-process client: answers equal the Predictor's, batches keep each
question's answers apart, the attention PNG, the model list, the page and docs, the API key."""

from __future__ import annotations

import io
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import vqa
from tests.inference.serve.helpers import serve_models
from vqa.data.images import open_rgb
from vqa.inference.serve.app import create_app
from vqa.inference.serve.inputs import Limits
from vqa.inference.serve.models import ModelSpecError, load_models, parse_model_spec


def upload(path) -> dict:
    return {"image": (path.name, path.read_bytes(), "image/png")}


def test_answer_gives_the_predictors_answers_for_the_default_and_a_named_model(
    client, trained, bundle_dir, late_bundle
):
    image, question = trained.image_files[0], trained.questions[0]
    for model, bundle in ((None, bundle_dir), ("late", late_bundle)):
        data = {"question": f"  {question} ", "top_k": "3", **({"model": model} if model else {})}
        response = client.post("/v1/answer", data=data, files=upload(image))
        assert response.status_code == 200, response.text
        body = response.json()
        expected = vqa.load(bundle, device="cpu").answer(image, question, top_k=3)
        assert body["model"] == (model or "cross") and body["question"] == question
        assert [a["answer"] for a in body["answers"]] == [a.answer for a in expected]
        assert [a["probability"] for a in body["answers"]] == pytest.approx([a.probability for a in expected], abs=1e-5)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answers(model_specs, trained, bundle_dir):
    predictor = vqa.load(bundle_dir, device="cpu")
    pairs = [(image, question) for image in trained.image_files for question in trained.questions[:6]]
    with TestClient(create_app(serve_models(model_specs, max_batch=8, window_s=0.2), Limits())) as client:

        def ask(pair):
            image, question = pair
            return client.post("/v1/answer", data={"question": question, "top_k": "2"}, files=upload(image)).json()

        with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
            bodies = list(pool.map(ask, pairs))
        queue = client.get("/healthz").json()["models"]["cross"]
    for (image, question), body in zip(pairs, bodies):
        expected = predictor.answer(image, question, top_k=2)
        assert [a["answer"] for a in body["answers"]] == [a.answer for a in expected], (image.name, question)
        assert [a["probability"] for a in body["answers"]] == pytest.approx([a.probability for a in expected], abs=1e-5)
    assert queue["questions"] == len(pairs) and queue["waiting"] == 0
    assert 1 < queue["largest_batch"] <= 8 and queue["batches"] < len(pairs)


def test_explain_returns_the_predictors_attention_png(client, trained, bundle_dir, tmp_path):
    image, question = trained.image_files[1], trained.questions[0]
    response = client.post("/v1/explain", data={"question": question, "top_k": "2"}, files=upload(image))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    drawn = Image.open(io.BytesIO(response.content))
    assert drawn.format == "PNG" and min(drawn.size) > 100
    reference = vqa.load(bundle_dir, device="cpu").explain(open_rgb(image), question, tmp_path / "ref.png", top_k=2)
    assert response.content == reference.path.read_bytes()


def test_explain_for_a_fusion_without_attention_is_a_422_naming_it(client, trained):
    response = client.post(
        "/v1/explain", data={"question": "what?", "model": "late"}, files=upload(trained.image_files[0])
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "model 'late' (fusion 'late') has no question-to-image attention to draw; /v1/models lists which "
        "models explain",
        "status": 422,
    }


def test_models_lists_each_model_with_its_parts(client, trained, bundle_dir):
    models = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["cross", "late"]
    assert [(m["fusion"], m["fusion_family"], m["explains"]) for m in models] == [
        ("cross_attention", "interactive", True),
        ("late", "late", False),
    ]
    answers = len(trained.module.vocab.answers)
    assert all(m["num_answers"] == answers and m["benchmark"] is None and m["parameters"] > 0 for m in models)
    size = list(vqa.load(bundle_dir, device="cpu").image_size)
    assert {m["image_encoder"] for m in models} == {"conv_grid"} and models[0]["image_size"] == size


def test_a_benchmark_cells_bundle_is_named_after_its_cell_and_reports_its_accuracies(bundle_dir, tmp_path):
    cell = tmp_path / "cells" / "tiny__cross_attention__seed3"
    shutil.copytree(bundle_dir, cell / "bundle")
    record = {"key": cell.name, "dataset": "tiny", "seed": 3, "test": {"acc": 61.5, "family/relational": 40.0}}
    (tmp_path / "cells" / f"{cell.name}.json").write_text(json.dumps(record))
    (served,) = load_models([str(cell / "bundle")], device="cpu", max_batch=4, window_s=0.0, max_queue=8)
    assert served.name == cell.name
    assert served.describe()["benchmark"] == {"dataset": "tiny", "seed": 3, "test": record["test"]}


def test_model_names_come_from_the_argument_or_the_path(bundle_dir, tmp_path):
    assert parse_model_spec(f"mine={bundle_dir}") == ("mine", bundle_dir)
    assert parse_model_spec(str(bundle_dir)) == (bundle_dir.name, bundle_dir)
    with pytest.raises(ModelSpecError, match="the name before '=' is empty"):
        parse_model_spec(f"={bundle_dir}")
    with pytest.raises(ModelSpecError, match="two models are named 'same'"):
        load_models([f"same={bundle_dir}", f"same={bundle_dir}"], device="cpu", max_batch=1, window_s=0, max_queue=1)


def test_health_page_and_docs_need_nothing_from_elsewhere(client):
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for marker in ('id="image-input"', 'id="question"', 'id="ask"', 'id="models"', "/v1/answer", "/v1/explain"):
        assert marker in page.text
    docs = client.get("/docs")
    assert docs.status_code == 200
    for text in (page.text, docs.text):
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", text)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", docs.text) + re.findall(
        r"""url:\s*'([^']+)'""", docs.text
    )
    assert any(a.endswith(".js") for a in assets) and "/openapi.json" in assets
    for asset in assets:
        assert asset.startswith("/") and client.get(asset).status_code == 200, asset
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/answer", "/v1/explain", "/v1/models", "/healthz"} <= set(paths)


def test_an_api_key_guards_the_api_but_not_the_page(model_specs, trained):
    with TestClient(create_app(serve_models(model_specs), Limits(), api_key="s3cret")) as client:
        missing = client.get("/v1/models")
        wrong = client.get("/v1/models", headers={"X-API-Key": "guess"})
        wrong_answer = client.post(
            "/v1/answer",
            data={"question": "what?"},
            files=upload(trained.image_files[0]),
            headers={"X-API-Key": "guess"},
        )
        right = client.get("/v1/models", headers={"X-API-Key": "s3cret"})
        assert (missing.status_code, missing.json()["error"]) == (
            401,
            "missing API key: send it in the X-API-Key header",
        )
        assert (wrong.status_code, wrong.json()["error"]) == (401, "wrong API key in the X-API-Key header")
        assert wrong_answer.status_code == 401
        assert right.status_code == 200
        assert client.get("/").status_code == 200 and client.get("/healthz").status_code == 200
