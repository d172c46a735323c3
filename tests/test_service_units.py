"""Unit tests of the service's pieces: parameter parsing, the streamed WAV layout, the likelihood curve,
settings, and the engine's admission control (no HTTP)."""

import asyncio
import io

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from model_core.inference.draws import StreamParams
from model_core.wav_format import wav_bytes, wav_header, wav_payload_size, wav_samples, wav_trailer
from service.engine import Engine
from service.errors import DecodersBusy, InvalidParameters, QueueFull
from service.metrics import Metrics
from service.request_inputs import GenerateParams, parse_params
from service.scoring import summarise
from service.settings import Settings
from service.streams import GenerationRequest

from .conftest import make_model


def test_generate_params_accept_form_strings_with_defaults():
    params = parse_params(GenerateParams, {"duration": "2.5", "include_seed": "true", "random_seed": "7"})
    assert params.duration == 2.5 and params.include_seed and params.random_seed == 7
    assert params.temperature == 1.0 and params.format == "pcm16"


@pytest.mark.parametrize("raw,field", [({}, "duration"), ({"duration": "x"}, "duration"),
                                       ({"duration": "nan"}, "duration"),
                                       ({"duration": "1", "format": "aac"}, "format"),
                                       ({"duration": "1", "temperature": "0"}, "temperature"),
                                       ({"duration": "1", "random_seed": "-1"}, "random_seed"),
                                       ({"duration": "1", "speed": "2"}, "speed")])
def test_bad_parameters_name_the_field(raw, field):
    with pytest.raises(InvalidParameters) as error:
        parse_params(GenerateParams, raw)
    assert error.value.status == 422 and field in error.value.detail


def test_duration_over_the_server_limit_is_refused_by_the_parameter_model():
    assert parse_params(GenerateParams, {"duration": "30"}, {"max_duration_seconds": 30}).duration == 30
    with pytest.raises(InvalidParameters, match="duration.*at most 30 s"):
        parse_params(GenerateParams, {"duration": "30.5"}, {"max_duration_seconds": 30})


@settings(max_examples=50, deadline=None)
@given(codes=st.lists(st.integers(0, 255), max_size=300), cuts=st.lists(st.integers(0, 300), max_size=6),
       fmt=st.sampled_from(["pcm16", "mulaw", "float32"]))
def test_a_streamed_wav_is_byte_identical_to_the_whole_file_however_it_is_chunked(codes, cuts, fmt):
    codes = np.array(codes, dtype=np.int64)
    bounds = [0, *sorted(c for c in cuts if c <= len(codes)), len(codes)]
    pieces = [wav_samples(codes[a:b], fmt) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    streamed = wav_header(len(codes), 8000, fmt) + b"".join(pieces) + wav_trailer(len(codes), fmt)
    assert streamed == wav_bytes(codes, 8000, fmt)
    assert len(streamed) == len(wav_header(len(codes), 8000, fmt)) + wav_payload_size(len(codes), fmt)
    assert soundfile.info(io.BytesIO(streamed)).frames == len(codes)


def test_likelihood_curve_averages_each_hop():
    nll = np.log(2) * np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    result = summarise(nll, 8000, 2 / 8000)
    assert result["curve"]["bits_per_sample"] == [2.0, 6.0, 9.0]
    assert result["bits_per_sample"] == pytest.approx(5.0) and result["samples_scored"] == 5


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("WAVENET_API_KEYS", "a, b")
    monkeypatch.setenv("WAVENET_MAX_STREAMS_PER_WORKER", "4")
    monkeypatch.setenv("WAVENET_CORS_ORIGINS", "https://x.example")
    s = Settings()
    assert s.api_keys == ["a", "b"] and s.max_streams_per_worker == 4 and s.cors_origins == ["https://x.example"]


def test_engine_refuses_at_once_when_slots_and_queue_are_full():
    async def scenario():
        engine = Engine(make_model(), Metrics(), workers=1, streams_per_worker=1, queue_size=1)
        loop = asyncio.get_running_loop()
        request = GenerationRequest(None, 10, StreamParams())
        engine.submit(request, loop)
        engine.submit(request, loop)  # not started: both wait, the limit is 1 slot + 1 queued
        with pytest.raises(QueueFull):
            engine.submit(request, loop)
        engine.stop()

    asyncio.run(scenario())


def test_engine_streams_finish_with_all_their_samples():
    async def scenario():
        engine = Engine(make_model(), Metrics(), workers=1, streams_per_worker=2, queue_size=4, chunk_samples=16)
        engine.start()
        loop = asyncio.get_running_loop()
        streams = [engine.submit(GenerationRequest(np.array([100, 120]), n, StreamParams(1.0, n)), loop)
                   for n in (5, 40, 33)]

        async def read_all(stream):
            return np.concatenate([chunk async for chunk in stream])

        received = [await asyncio.wait_for(read_all(stream), 30) for stream in streams]
        engine.stop()
        assert engine.in_flight == 0
        return received

    from model_core.inference.generate import generate

    received = asyncio.run(scenario())
    assert [len(r) for r in received] == [5, 40, 33]
    assert np.array_equal(received[1], generate(make_model(), np.array([100, 120]), 40, StreamParams(random_seed=40)))


def test_the_decode_pool_refuses_beyond_its_workers_and_queue(monkeypatch):
    import threading

    import service.decoding as decoding
    from model_core.config import PRESETS

    release = threading.Event()
    monkeypatch.setattr(decoding, "decode_to_codes", lambda *args: release.wait(5) and np.zeros(1, np.int64))
    pool = decoding.DecodePool(PRESETS["tiny"], workers=1, waiting=1)

    async def scenario() -> None:
        first = asyncio.ensure_future(pool.decode(b"a", 1.0))
        second = asyncio.ensure_future(pool.decode(b"b", 1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(DecodersBusy, match="decoders"):
            await pool.decode(b"c", 1.0)
        release.set()
        await asyncio.gather(first, second)
        assert pool.places.taken == 0
        await pool.decode(b"d", 1.0)  # room again

    asyncio.run(scenario())
    pool.shutdown()


def test_realtime_capacity_is_measured_at_start_and_the_gauge_is_live_streams_over_it():
    metrics = Metrics()
    engine = Engine(make_model(), metrics, workers=1, streams_per_worker=2, queue_size=0)
    assert engine.realtime_streams == 0
    engine.start()
    try:
        assert engine.realtime_streams > 0
        used = lambda: metrics.registry.get_sample_value("wavenet_realtime_capacity_used")  # noqa: E731
        metrics.stream_started()
        metrics.stream_started()
        assert used() == pytest.approx(2 / engine.realtime_streams)
        assert metrics.registry.get_sample_value("wavenet_active_streams") == 2
        metrics.stream_ended()
        metrics.stream_ended()
        assert used() == 0
    finally:
        engine.stop()


def test_live_streams_are_capped_at_what_runs_fast_enough_and_the_rest_wait(monkeypatch):
    """The worker's measured per-stream speeds decide how many streams run at once; the others queue."""
    from service import workers

    measured = {1: 8_000 * 3.0, 2: 2 * 8_000 * 1.6, 4: 4 * 8_000 * 0.9}  # samples/s, per live-slot count
    monkeypatch.setattr(workers.EngineWorker, "_samples_per_second", lambda self, live: measured[live])
    for factor, limit in ((1.0, 2), (1.5, 2), (2.0, 1), (10.0, 1), (0.0, 4)):
        engine = Engine(make_model(), Metrics(), workers=1, streams_per_worker=4, queue_size=3,
                        min_realtime_factor=factor)
        engine.start()
        try:
            assert engine.live_limit == limit, factor
            assert engine.queue.places.limit == limit + 3
            assert engine.realtime_streams == 2  # each of 2 streams runs >= 1x real time, not each of 4
        finally:
            engine.stop()


def test_streams_beyond_the_measured_limit_wait_in_the_queue(monkeypatch):
    from service import workers

    measured = {1: 8_000 * 3.0, 2: 2 * 8_000 * 1.6, 4: 4 * 8_000 * 0.9}
    monkeypatch.setattr(workers.EngineWorker, "_samples_per_second", lambda self, live: measured[live])
    metrics = Metrics()
    engine = Engine(make_model(), metrics, workers=1, streams_per_worker=4, queue_size=3, min_realtime_factor=1.0)
    engine.start()

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        streams = [engine.submit(GenerationRequest(None, 10**7, StreamParams(random_seed=i)), loop) for i in range(3)]
        await asyncio.sleep(0.5)
        seen = (metrics.registry.get_sample_value("wavenet_active_streams"),
                metrics.registry.get_sample_value("wavenet_queue_depth"))
        for stream in streams:
            stream.cancel()
        return seen

    try:
        assert asyncio.run(scenario()) == (2, 1)  # 2 live (the measured limit) of 4 slots, the third waits
    finally:
        engine.stop()
