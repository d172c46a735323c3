"""`make bench-service`: the service under N concurrent streaming clients on loopback, beside the bare
sampler at the same batch size, in one run (same model, same machine, minutes apart).

Reports the streams the service admits at once (its start-up measurement), each stream's real-time factor
(audio seconds over wall seconds from request to last byte) p5 / p50, time to first audio (request sent ->
first generated samples received) p50 / p99, and the aggregate beside the bare sampler's best figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

from benchmarks.report import write_section
from benchmarks.sampler_speed import generation_rate
from model_core import load_checkpoint
from model_core.checkpoint import SHIPPED_CHECKPOINT
from model_core.device import usable_cores
from service.process import ServiceProcess

WAV_HEADER = 44


def client(http: httpx.Client, url: str, seconds: float, seed: int,
           results: list[tuple[float, int, float]]) -> None:
    """Appends (time to first audio, samples received, wall seconds of the whole request)."""
    started = time.monotonic()
    first_audio, received = None, 0
    with http.stream("POST", url + "/generate", data={"duration": str(seconds), "random_seed": str(seed)},
                     timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            received += len(chunk)
            if first_audio is None and received > WAV_HEADER:
                first_audio = time.monotonic() - started
    results.append((first_audio, (received - WAV_HEADER) // 2, time.monotonic() - started))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio each client requests")
    parser.add_argument("--write", type=Path, help="write the results into this Markdown file, replacing the last run")
    args = parser.parse_args()

    model, _ = load_checkpoint(args.checkpoint)
    threads = usable_cores()
    torch.set_num_threads(1)  # as the service runs: torch single-threaded, the native kernel on its own threads
    bare = {n: generation_rate(model, "auto", args.clients, n) for n in sorted({1, threads})}
    sampler = max(bare.values())

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.environ.get("BENCH_LOG_DIR", tmp_dir)
        server = ServiceProcess(args.checkpoint, Path(tmp) / "server.log", max_streams_per_worker=args.clients,
                                queue_size=args.clients, log_level="warning")
        try:
            server.wait_ready()
            engine = httpx.get(server.url + "/info").json()["engine"]
            results: list[tuple[float, int, float]] = []
            # One client with a connection per stream, made before the clock starts (creating an httpx
            # client costs tens of ms, which would otherwise be counted as time to first audio).
            http = httpx.Client(limits=httpx.Limits(max_connections=args.clients))
            workers = [threading.Thread(target=client, args=(http, server.url, args.seconds, i, results))
                       for i in range(args.clients)]
            started = time.monotonic()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.monotonic() - started
            http.close()
        finally:
            server.stop()
    samples = sum(n for _, n, _ in results)
    expected = args.clients * round(args.seconds * model.config.sample_rate)
    aggregate = samples / wall
    ttfa = [t for t, _, _ in results]
    factors = [n / model.config.sample_rate / seconds for _, n, seconds in results]
    lines = [
        "",
        "## Service throughput",
        "",
        f"Command: `make bench-service` (`python -m benchmarks.service_throughput`), checkpoint "
        f"`{args.checkpoint.name}` ({model.config.macs_per_sample:,} multiply-adds per sample), "
        f"{args.clients} concurrent clients x {args.seconds:g} s of audio, uvicorn on loopback, {threads} threads.",
        "",
        "| figure | value |",
        "|---|---:|",
        *[f"| bare sampler generating, batch {args.clients}, {n} kernel thread(s) | {rate:,.0f} samples/s |"
          for n, rate in bare.items()],
        f"| service: streams generated at once (start-up measurement, WAVENET_MIN_REALTIME_FACTOR "
        f"{engine['min_realtime_factor']:g}) | {engine['live_streams_limit']} of {args.clients} slots "
        f"({engine['backend']} kernel) |",
        f"| service, {args.clients} concurrent clients, aggregate | {aggregate:,.0f} samples/s |",
        f"| service / best bare sampler figure | {aggregate / sampler:.0%} |",
        f"| per-stream real-time factor (request to last byte), p5 / p50 | {percentile(factors, 0.05):.2f} / "
        f"{statistics.median(factors):.2f} |",
        f"| samples received / requested | {samples:,} / {expected:,} |",
        f"| time to first audio, p50 / p99 | {1000 * statistics.median(ttfa):.0f} / "
        f"{1000 * percentile(ttfa, 0.99):.0f} ms |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(args.write, text)
    if samples != expected:
        sys.exit("some streams came back short")


if __name__ == "__main__":
    main()
