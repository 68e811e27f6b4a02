"""Every bad request of the issue gets a 4xx JSON error naming the problem, and the server answers afterwards."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inference.serve.helpers import BAD_CASES, bad_requests, serve_models
from vqa.inference.serve.app import create_app


def good_request(client, trained) -> None:
    image = trained.image_files[0].read_bytes()
    response = client.post(
        "/v1/answer", data={"question": trained.questions[0]}, files={"image": ("ok.png", image, "image/png")}
    )
    assert response.status_code == 200, response.text
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_request_is_a_4xx_naming_the_problem_and_the_server_goes_on(case, client, trained, huge_png):
    bad = bad_requests(trained.image_files[0].read_bytes(), trained.questions[0], huge_png)[case]
    response = client.post("/v1/answer", **bad["request"])
    assert response.status_code == bad["status"], response.text
    body = response.json()
    assert body["status"] == bad["status"] and bad["says"] in body["error"], body
    good_request(client, trained)


def test_an_oversized_body_without_a_length_header_is_refused_too(client, trained):
    def chunks():  # a streamed (chunked) 50 MB body: no Content-Length header to refuse it by
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'
        for _ in range(50):
            yield bytes(1_000_000)

    response = client.post("/v1/answer", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413
    assert "larger than the upload limit of 20,000,000 bytes" in response.json()["error"]
    good_request(client, trained)


def test_unknown_paths_and_methods_are_json_errors(client):
    missing = client.get("/v2/answer")
    assert (missing.status_code, missing.json()["error"]) == (404, "no such page or endpoint: /v2/answer (see /docs)")
    wrong = client.get("/v1/answer")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "GET is not allowed on /v1/answer (see /docs)")


def test_a_fault_of_the_model_is_a_500_json_error_and_the_server_goes_on(model_specs, trained):
    models = serve_models(model_specs)
    working = models[0].batcher.answer_batch

    def broken(images, questions, top_k):
        raise RuntimeError("out of memory")

    models[0].batcher.answer_batch = broken
    with TestClient(create_app(models), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/answer", data={"question": "what?"}, files={"image": ("ok.png", trained.image_files[0].read_bytes())}
        )
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error (RuntimeError); see the server log", "status": 500}
        models[0].batcher.answer_batch = working
        good_request(client, trained)
