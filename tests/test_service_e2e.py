"""End-to-end: a real uvicorn process, real HTTP, WAVs parsed back with soundfile and ffprobe."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile
import torch

from model_core import WaveNet, load_checkpoint, mu_law_encode, save_checkpoint
from model_core.audio_io import read_audio
from model_core.config import PRESETS
from model_core.front_end import encode_input
from model_core.inference.likelihood import sample_nll
from service.process import ServiceProcess

from .conftest import vowel
from .float_tolerance import exact_logits, float32_tolerance

RATE = 8000


def wav(audio: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


SEED = wav(vowel(0.5, 16000), 16000)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    return save_checkpoint(WaveNet(PRESETS["default"]), path, {"training_data": "none (random weights)"})


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    service = ServiceProcess(checkpoint, tmp_path_factory.mktemp("log") / "server.log", max_upload_bytes=300_000,
                             max_seed_seconds=3, max_duration_seconds=30, cors_origins="https://app.example",
                             max_streams_per_worker=8, queue_size=8)
    service.wait_ready()
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def strict_server(checkpoint, tmp_path_factory):
    """API keys on, one stream slot, no waiting queue."""
    service = ServiceProcess(checkpoint, tmp_path_factory.mktemp("log") / "strict.log", api_keys="k1,k2",
                             max_streams_per_worker=1, queue_size=0)
    service.wait_ready()
    yield service
    service.stop()


def generate(server, data=None, files=None, **kwargs) -> httpx.Response:
    return httpx.post(server.url + "/generate", data=data, files=files, timeout=60, **kwargs)


def parse(content: bytes) -> tuple[np.ndarray, int]:
    audio, rate = soundfile.read(io.BytesIO(content), dtype="float64")
    return audio, rate


def test_curl_multipart_upload_streams_a_correct_wav(server, tmp_path):
    seed = tmp_path / "seed.wav"
    seed.write_bytes(SEED)
    out = tmp_path / "out.wav"
    headers = tmp_path / "headers.txt"
    subprocess.run(["curl", "-sS", "-f", "-D", str(headers), "-F", f"seed=@{seed}", "-F", "duration=0.5",
                    "-F", "random_seed=1", server.url + "/generate", "-o", str(out)], check=True, timeout=60)
    head = headers.read_text().lower()
    assert "content-type: audio/wav" in head and "x-sample-rate: 8000" in head
    assert re.search(r"x-request-id: \w+", head) and "x-random-seed: 1" in head
    audio, rate = parse(out.read_bytes())
    assert rate == RATE and len(audio) == 4000
    assert int(re.search(r"content-length: (\d+)", head).group(1)) == out.stat().st_size


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe not installed")
def test_ffprobe_reads_the_duration_from_the_header(server, tmp_path):
    out = tmp_path / "out.wav"
    out.write_bytes(generate(server, {"duration": "1.25"}, {"seed": ("s.wav", SEED, "audio/wav")}).content)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    assert abs(float(json.loads(probe.stdout)["format"]["duration"]) - 1.25) < 1e-3


def test_first_bytes_arrive_before_generation_ends(server):
    with httpx.stream("POST", server.url + "/generate", data={"duration": "20"},
                      files={"seed": ("s.wav", SEED, "audio/wav")}, timeout=60) as response:
        started = time.monotonic()
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        total = len(first) + sum(len(chunk) for chunk in chunks)
        done_at = time.monotonic() - started
    assert first[:4] == b"RIFF"
    assert total == 44 + 2 * 20 * RATE
    assert first_at < done_at / 4


@pytest.mark.parametrize("fmt", ["pcm16", "mulaw", "float32"])
def test_raw_audio_body_with_query_parameters(server, fmt):
    response = httpx.post(server.url + "/generate", params={"duration": 0.25, "format": fmt, "random_seed": 5},
                          content=SEED, headers={"content-type": "audio/wav"}, timeout=60)
    assert response.status_code == 200
    audio, rate = parse(response.content)
    assert len(audio) == 2000 and rate == RATE
    assert int(response.headers["content-length"]) == len(response.content)


def test_no_seed_starts_from_silence_and_include_seed_prepends_it(server):
    silent = generate(server, {"duration": "0.1"})
    assert silent.status_code == 200 and len(parse(silent.content)[0]) == 800
    with_seed = generate(server, {"duration": "0.1", "include_seed": "true", "random_seed": "3"},
                         {"seed": ("s.wav", SEED, "audio/wav")})
    audio, _ = parse(with_seed.content)
    assert len(audio) == 4000 + 800
    seed_codes = encode_input(read_audio(SEED, RATE), PRESETS["default"])
    assert np.array_equal(mu_law_encode(audio[:4000]), seed_codes)


def test_same_random_seed_gives_identical_bytes_whatever_else_runs(server):
    request = {"duration": "0.5", "random_seed": "1234", "temperature": "0.9"}
    alone = generate(server, request, {"seed": ("s.wav", SEED, "audio/wav")}).content
    others = [threading.Thread(target=generate, args=(server, {"duration": "2", "random_seed": str(i)},
                                                      {"seed": ("s.wav", SEED, "audio/wav")}))
              for i in range(4)]
    for thread in others:
        thread.start()
    time.sleep(0.2)
    busy = generate(server, request, {"seed": ("s.wav", SEED, "audio/wav")}).content
    for thread in others:
        thread.join()
    assert alone == busy
    different = generate(server, {**request, "random_seed": "1235"}, {"seed": ("s.wav", SEED, "audio/wav")})
    assert different.content != alone


def test_the_service_matches_offline_generation(server, checkpoint):
    from model_core.inference.draws import StreamParams
    from model_core.inference.generate import generate as offline
    from model_core.wav_format import wav_bytes

    model, _ = load_checkpoint(checkpoint)
    seed = encode_input(read_audio(SEED, RATE), PRESETS["default"])
    expected = wav_bytes(offline(model, seed, 400, StreamParams(1.0, 77)), RATE)
    assert generate(server, {"duration": "0.05", "random_seed": "77"},
                    {"seed": ("s.wav", SEED, "audio/wav")}).content == expected


def test_concurrent_clients_all_receive_complete_files(server):
    results: list[httpx.Response] = []

    def client(i: int) -> None:
        results.append(generate(server, {"duration": f"{0.2 + 0.1 * i:.1f}", "random_seed": str(i)},
                                {"seed": ("s.wav", SEED, "audio/wav")}))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lengths = sorted(len(parse(r.content)[0]) for r in results)
    assert all(r.status_code == 200 for r in results)
    assert lengths == [round((0.2 + 0.1 * i) * RATE) for i in range(10)]


def metric(server, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else math.nan


def test_disconnect_stops_the_stream_and_frees_its_slot(server):
    before = metric(server, "wavenet_generated_samples_total")
    with httpx.stream("POST", server.url + "/generate", data={"duration": "30"},
                      files={"seed": ("s.wav", SEED, "audio/wav")}, timeout=60) as response:
        chunks = response.iter_raw()  # keep a reference: a dropped iterator closes the response
        next(chunks)
        time.sleep(0.3)
        assert metric(server, "wavenet_active_streams") == 1
    deadline = time.monotonic() + 5
    while metric(server, "wavenet_active_streams") != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(server, "wavenet_active_streams") == 0
    time.sleep(0.3)
    generated = metric(server, "wavenet_generated_samples_total") - before
    assert generated < 30 * RATE / 2  # stopped long before the end


def test_likelihood_matches_offline_scoring(server, checkpoint):
    response = httpx.post(server.url + "/likelihood", files={"audio": ("s.wav", SEED, "audio/wav")},
                          data={"hop_seconds": "0.05"}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    model, _ = load_checkpoint(checkpoint)
    codes = encode_input(read_audio(SEED, RATE), PRESETS["default"])
    nll = sample_nll(model, codes)
    assert body["sample_rate"] == RATE and body["samples_scored"] == 3999
    # The server and this process run float32 GEMMs with different thread counts: each sample's NLL may
    # differ by twice the logit tolerance (log-softmax moves by at most 2x its inputs' error).
    scale = exact_logits(model, torch.as_tensor(codes)[None]).abs().max()
    per_sample = 2 * 2 * float32_tolerance(model.config, scale)
    assert abs(body["total_nll_nats"] - nll.sum()) <= len(nll) * per_sample
    assert abs(body["bits_per_sample"] - nll.mean() / math.log(2)) <= per_sample / math.log(2)
    assert len(body["curve"]["bits_per_sample"]) == math.ceil(3999 / 400)
    raw = httpx.post(server.url + "/likelihood", content=SEED, headers={"content-type": "audio/wav"}, timeout=60)
    assert math.isclose(raw.json()["total_nll_nats"], body["total_nll_nats"], rel_tol=1e-9)


def test_health_ready_info_metrics(server, checkpoint):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").status_code == 200
    info = httpx.get(server.url + "/info").json()
    assert info["sample_rate"] == RATE and info["receptive_field"] == PRESETS["default"].receptive_field
    assert len(info["checkpoint"]["sha256"]) == 64
    assert info["checkpoint"]["metadata"]["training_data"] == "none (random weights)"
    assert info["engine"]["realtime_streams"] > 0
    text = httpx.get(server.url + "/metrics").text
    for name in ("wavenet_requests_total", "wavenet_request_seconds", "wavenet_time_to_first_audio_seconds",
                 "wavenet_generated_samples_total", "wavenet_real_time_factor", "wavenet_active_streams",
                 "wavenet_queue_depth", "wavenet_engine_batch_size", "wavenet_model_info",
                 "wavenet_realtime_capacity_used"):
        assert name in text
    assert 'endpoint="/generate",status="200"' in text


def test_cors_preflight_for_configured_origin(server):
    response = httpx.options(server.url + "/generate", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    refused = httpx.options(server.url + "/generate", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers


BAD_INPUTS = {
    "not audio": ({"duration": "1"}, {"seed": ("s.wav", b"hello, this is text" * 50, "audio/wav")}, 422),
    "empty file": ({"duration": "1"}, {"seed": ("s.wav", b"", "audio/wav")}, 422),
    "zero-length audio": ({"duration": "1"}, {"seed": ("s.wav", wav(np.zeros(0, np.float32)), "audio/wav")}, 422),
    "NaN samples": ({"duration": "1"}, {"seed": ("s.wav", wav(np.array([0.1, np.nan, 0.0], np.float32),
                                                                subtype="FLOAT"), "audio/wav")}, 422),
    "seed too long": ({"duration": "1"}, {"seed": ("s.wav", wav(vowel(4.0), subtype="PCM_U8"), "audio/wav")}, 413),
    "duration missing": ({}, None, 422),
    "duration negative": ({"duration": "-1"}, None, 422),
    "duration zero": ({"duration": "0"}, None, 422),
    "duration too large": ({"duration": "31"}, None, 422),
    "duration not a number": ({"duration": "abc"}, None, 422),
    "duration infinite": ({"duration": "inf"}, None, 422),
    "temperature zero": ({"duration": "1", "temperature": "0"}, None, 422),
    "temperature negative": ({"duration": "1", "temperature": "-2"}, None, 422),
    "unknown format": ({"duration": "1", "format": "mp3"}, None, 422),
    "unknown field": ({"duration": "1", "durration": "2"}, None, 422),
    "seed sent as text": ({"duration": "1", "seed": "abc"}, None, 422),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_json_error(server, name):
    data, files, status = BAD_INPUTS[name]
    response = generate(server, data, files)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and len(body["detail"]) > 5


def test_wrong_content_type_is_415(server):
    response = httpx.post(server.url + "/generate", json={"duration": 1})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["detail"]


def test_upload_over_the_limit_is_refused_from_its_declared_length(server):
    response = generate(server, {"duration": "1"}, {"seed": ("s.wav", b"\0" * 400_000, "audio/wav")})
    assert response.status_code == 413 and response.json()["error"] == "upload_too_large"


def test_upload_over_the_limit_is_refused_while_it_streams(server):
    sent = 0

    def body():
        nonlocal sent
        for _ in range(1000):  # up to 64 MB, far more than the 300 kB limit
            sent += 65536
            yield b"\0" * 65536

    try:
        response = httpx.post(server.url + "/generate?duration=1", content=body(),
                              headers={"content-type": "audio/wav"}, timeout=30)
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending: also a refusal
    assert sent < 10_000_000


def test_likelihood_without_audio_is_422(server):
    response = httpx.post(server.url + "/likelihood", data={"hop_seconds": "0.01"})
    assert response.status_code == 422


def test_api_keys_are_required_when_configured(strict_server):
    url = strict_server.url + "/generate"
    assert httpx.post(url, data={"duration": "0.1"}).status_code == 401
    assert httpx.post(url, data={"duration": "0.1"}, headers={"X-API-Key": "nope"}).status_code == 401
    ok = httpx.post(url, data={"duration": "0.1"}, headers={"Authorization": "Bearer k2"}, timeout=30)
    assert ok.status_code == 200
    assert httpx.get(strict_server.url + "/healthz").status_code == 200  # probes stay open


def test_too_many_concurrent_requests_get_503_with_retry_after(strict_server):
    with httpx.stream("POST", strict_server.url + "/generate", data={"duration": "10"},
                      headers={"X-API-Key": "k1"}, timeout=60) as long_running:
        chunks = long_running.iter_raw()
        next(chunks)
        started = time.monotonic()
        refused = httpx.post(strict_server.url + "/generate", data={"duration": "0.1"},
                             headers={"X-API-Key": "k1"}, timeout=30)
        assert time.monotonic() - started < 2  # at once, not after waiting
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert refused.json()["error"] == "busy"


def test_a_missing_checkpoint_stops_start_up_with_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "wavenet.cli", "serve", "--checkpoint",
                             str(tmp_path / "missing.safetensors")], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"wavenet: error: checkpoint not found: "
                                                  f"{tmp_path / 'missing.safetensors'}"]
