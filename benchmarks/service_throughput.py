"""`make bench-service`: the service under N concurrent streaming clients on loopback, beside the bare
sampler at the same batch size, in one run (same model, same machine, minutes apart).

Reports aggregate generated samples/s, its ratio to the sampler's figure, and time to first audio
(request sent -> first generated samples received) p50 / p99.
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

from benchmarks.sampler_speed import generation_rate
from model_core import load_checkpoint
from model_core.checkpoint import SHIPPED_CHECKPOINT
from service.process import ServiceProcess

WAV_HEADER = 44


def client(http: httpx.Client, url: str, seconds: float, seed: int, results: list[tuple[float, int]]) -> None:
    started = time.monotonic()
    first_audio, received = None, 0
    with http.stream("POST", url + "/generate", data={"duration": str(seconds), "random_seed": str(seed)},
                     timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            received += len(chunk)
            if first_audio is None and received > WAV_HEADER:
                first_audio = time.monotonic() - started
    results.append((first_audio, (received - WAV_HEADER) // 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio each client requests")
    parser.add_argument("--write", type=Path, help="append the results as Markdown to this file")
    args = parser.parse_args()

    model, _ = load_checkpoint(args.checkpoint)
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(1)  # as the service runs: torch single-threaded, the native kernel on its own threads
    service_threads = max(1, threads - 1)  # the service's default (see Settings.step_threads)
    sampler_all = generation_rate(model, "auto", args.clients, threads)
    sampler_service = generation_rate(model, "auto", args.clients, service_threads)
    sampler = max(sampler_all, sampler_service)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = os.environ.get("BENCH_LOG_DIR", tmp_dir)
        server = ServiceProcess(args.checkpoint, Path(tmp) / "server.log", max_streams_per_worker=args.clients,
                                queue_size=args.clients, log_level="warning")
        try:
            server.wait_ready()
            results: list[tuple[float, int]] = []
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
    samples = sum(n for _, n in results)
    expected = args.clients * round(args.seconds * model.config.sample_rate)
    aggregate = samples / wall
    ttfa = sorted(t for t, _ in results)
    p99 = ttfa[min(len(ttfa) - 1, round(0.99 * (len(ttfa) - 1)))]
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
        f"| bare sampler generating, batch {args.clients}, {threads} kernel threads | {sampler_all:,.0f} samples/s |",
        f"| bare sampler generating, batch {args.clients}, {service_threads} kernel thread(s) as the service "
        f"| {sampler_service:,.0f} samples/s |",
        f"| service, {args.clients} concurrent streams, aggregate | {aggregate:,.0f} samples/s |",
        f"| service / best bare sampler figure | {aggregate / sampler:.0%} |",
        f"| samples received / requested | {samples:,} / {expected:,} |",
        f"| time to first audio, p50 | {1000 * statistics.median(ttfa):.0f} ms |",
        f"| time to first audio, p99 | {1000 * p99:.0f} ms |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with args.write.open("a") as f:
            f.write(text)
    if samples != expected:
        sys.exit("some streams came back short")


if __name__ == "__main__":
    main()
