"""Upload decoding off the event loop, in a pool of its own with a bounded queue.

Decoding and resampling are CPU work whose cost a client chooses; in the default thread pool a burst of
uploads would take every thread the server has. Here at most `workers` files decode at once and `waiting`
more may queue; beyond that a request is refused with 503 before its audio is touched. Each decode's
working memory is bounded by audio_io.read_audio's limits (the uploads themselves are bounded by the
upload middleware's size and concurrency limits).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from model_core.audio_io import read_audio
from model_core.config import WaveNetConfig
from model_core.front_end import encode_input
from service.admission import Places
from service.errors import DecodersBusy


def decode_to_codes(audio: bytes, config: WaveNetConfig, max_seconds: float) -> np.ndarray:
    """Upload bytes -> (T,) int64 codes as the checkpoint hears them (front end, then mu-law)."""
    return encode_input(read_audio(audio, config.sample_rate, max_seconds), config)


class DecodePool:
    def __init__(self, config: WaveNetConfig, workers: int, waiting: int) -> None:
        self.config = config
        self.places = Places(workers + waiting, DecodersBusy, "the audio decoders are all busy")
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wavenet-decode")

    async def decode(self, audio: bytes, max_seconds: float) -> np.ndarray:
        """Upload bytes -> codes; DecodersBusy (503) at once when the pool and its queue are full."""
        with self.places.held():
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, decode_to_codes, audio, self.config, max_seconds)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
