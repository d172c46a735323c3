"""`make bench`: sampler throughput, side by side in one run, on the reference architecture.

Variants: the naive sampler (recompute the receptive field for every sample: what a plain forward pass
costs), the plain-PyTorch incremental step, and the compiled native step; batch 1, 8 and 32; priming a
1-second seed; the parallel forward (likelihood) throughput. Each figure is the best of several repeats (the
machine is shared) and is quoted as a fraction of the compute bound for the threads it runs on: the larger
of the machine's stated peak (vector lanes x 2 FMA units x 2 flops x clock x threads, from /proc/cpuinfo)
and the sgemm measured in the same run (a virtual machine may hide its real clock or ISA; what was measured
is possible). The memory bandwidth is measured and stated too.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.report import write_section
from model_core import IncrementalSampler, WaveNet, WaveNetConfig, load_checkpoint
from model_core.device import usable_cores
from model_core.inference import kernel_choice
from model_core.inference.draws import StreamParams
from model_core.inference.kernels.native import native_available
from model_core.inference.kernels.torch_kernel import TorchStep

BATCHES = (1, 8, 32)


def best_rate(fn, work: float, repeats: int = 5, min_seconds: float = 0.3) -> float:
    """Highest work/second over `repeats` timed runs of fn (each repeated to last min_seconds)."""
    fn()
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, calls * work / elapsed)
    return best


def matmul_gflops(threads: int, n: int = 1024) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    return best_rate(lambda: torch.mm(a, b), 2 * n**3) / 1e9


def stated_peak_gflops() -> tuple[float, str]:
    """One core's float32 peak from what /proc/cpuinfo states -> (GFLOP/s, how it was computed)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    mhz = max([float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")] or [0.0])
    lanes, isa = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2") if "avx2" in flags else (4, "SSE")
    units = 2 if "fma" in flags or "avx512f" in flags else 1
    gflops = lanes * units * 2 * mhz / 1000
    return gflops, f"{isa} {lanes} lanes x {units} FMA units (assumed) x 2 flops x {mhz / 1000:.2f} GHz = {gflops:.1f}"


def memory_gbytes_per_second(megabytes: int = 256) -> float:
    """Copy bandwidth (bytes read + written) over arrays far larger than any cache."""
    source = np.ones(megabytes * 2**18, dtype=np.float32)
    target = np.empty_like(source)
    return best_rate(lambda: np.copyto(target, source), 2 * source.nbytes, repeats=3) / 1e9


def step_rate(model: WaveNet, backend: str, batch: int, threads: int | None = None) -> float:
    """Teacher-forced steps through the step() API: one Python call per sample."""
    sampler = IncrementalSampler(model, batch, backend=backend, threads=threads)
    sampler.prime(torch.randint(0, 256, (batch, 100)))
    codes = torch.randint(0, 256, (batch,))

    def run() -> None:
        for _ in range(20):
            sampler.step(codes)

    return best_rate(run, 20 * batch)


def generation_rate(model: WaveNet, backend: str, batch: int, threads: int | None = None) -> float:
    """Free-running generation, draws included, through sample_steps (what the CLI and the engine run)."""
    sampler = IncrementalSampler(model, batch, backend=backend, threads=threads)
    sampler.prime_slots(range(batch), torch.randint(0, 256, (batch, 100)),
                        params=[StreamParams(random_seed=i) for i in range(batch)])

    def run() -> None:
        sampler.sample_steps(40, batch)

    return best_rate(run, 40 * batch)


def naive_rate(model: WaveNet, batch: int) -> float:
    """One new sample per full forward over the receptive field (what a sampler without queues does)."""
    window = torch.randint(0, 256, (batch, model.receptive_field))

    @torch.inference_mode()
    def run() -> None:
        model(window)[:, :, -1]

    return best_rate(run, batch, repeats=3, min_seconds=0.5)


def cuda_generation_rate(model: WaveNet, batch: int, graphs: bool) -> float:
    """Aggregate samples/s of `batch` streams on CUDA, rounds replayed from CUDA graphs or run eagerly."""
    sampler = IncrementalSampler(copy.deepcopy(model).to("cuda"), batch, backend="torch")
    sampler.kernel = TorchStep(sampler.weights, graphs=graphs)
    kernel_choice.prime_all_with_silence(sampler)
    return kernel_choice.round_rate(sampler, batch)


def prime_ms(model: WaveNet, backend: str, seconds: float = 1.0) -> tuple[float, int]:
    """-> (median milliseconds to prime one stream from a seed of `seconds`, the prime's multiply-adds)."""
    sampler = IncrementalSampler(model, 1, backend=backend)
    seed = torch.randint(0, 256, (1, int(seconds * model.config.sample_rate)))
    sampler.prime(seed)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        sampler.prime(seed)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), sampler.prime_macs


def forward_rate(model: WaveNet, length: int = 32_000) -> float:
    codes = torch.randint(0, 256, (1, length))

    @torch.inference_mode()
    def run() -> None:
        model(codes)

    return best_rate(run, length, repeats=3, min_seconds=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="also write the results as Markdown at the head of this file")
    parser.add_argument("--threads", type=int, default=usable_cores())
    parser.add_argument("--checkpoint", type=Path, help="measure this model instead of the reference architecture")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        config = model.config
    else:
        config = WaveNetConfig()
        model = WaveNet(config).eval()
    macs = config.macs_per_sample
    params = sum(p.numel() for p in model.parameters())

    peak_core, peak_text = stated_peak_gflops()
    used = sorted({1, args.threads} | {min(args.threads, -(-batch // 8)) for batch in BATCHES})
    sgemm = {threads: matmul_gflops(threads) for threads in used}
    bandwidth = memory_gbytes_per_second()

    def bound(threads: int) -> float:
        """Samples/s no sampler on `threads` threads can exceed: every multiply-add at the compute bound."""
        return max(peak_core * threads, sgemm[threads]) * 1e9 / (2 * macs)

    # Torch's own thread pool competes with the kernel's OpenMP threads (measured: ~25% slower at batch
    # 32); the service does the same: one torch thread, the kernel's threads for the steps.
    torch.set_num_threads(1)
    os.environ.setdefault("WAVENET_STEP_THREADS", str(args.threads))

    rows = []
    backends = ["torch"] + (["native"] if native_available() else [])
    for batch in BATCHES:
        # torch runs on one thread here; the native kernel on one thread per block of 8 streams, at most all.
        rows.append(("naive recompute", batch, 1, naive_rate(model, batch)))
        for backend in backends:
            threads = min(args.threads, -(-batch // 8)) if backend == "native" else 1
            rows.append((f"incremental, {backend} kernel, step() per sample", batch, threads,
                         step_rate(model, backend, batch)))
            rows.append((f"incremental, {backend} kernel, generation (draws included)", batch, threads,
                         generation_rate(model, backend, batch)))
    primes = {backend: prime_ms(model, backend) for backend in backends}
    torch.set_num_threads(args.threads)
    parallel = forward_rate(model)

    lines = [
        "# Benchmarks",
        "",
        f"Command: `python -m benchmarks.sampler_speed {' '.join(sys.argv[1:])}` (`make bench`), "
        f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{args.threads} threads, torch {torch.__version__}.",
        "",
        f"{'Checkpoint ' + args.checkpoint.name if args.checkpoint else 'Reference architecture'}: "
        f"{config.layers} layers (dilations 1..{max(config.dilation_cycle)} x "
        f"{config.stacks}), residual {config.residual_channels}, gate {config.gate_channels}, skip "
        f"{config.skip_channels}, head {config.head_channels}, kernel {config.kernel_size}, float32; "
        f"{params:,} parameters, {macs:,} multiply-adds per generated sample.",
        "",
        f"Machine, in the same run: stated peak per core {peak_text} GFLOP/s; measured sgemm (1024^3) "
        + ", ".join(f"{gflops:.1f} GFLOP/s on {threads} thread(s)" for threads, gflops in sgemm.items())
        + f"; memory copy bandwidth {bandwidth:.1f} GB/s (the weights, {4 * params / 1e6:.1f} MB, stay in cache "
        f"across steps). Compute bound: {bound(1):,.0f} samples/s on one thread, {bound(args.threads):,.0f} on "
        f"{args.threads}.",
        "",
        "| sampler | batch | threads | samples/s (aggregate) | fraction of the compute bound | real-time 8 kHz "
        "streams |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, batch, threads, rate in rows:
        lines.append(f"| {name} | {batch} | {threads} | {rate:,.0f} | {rate / bound(threads):.1%} | "
                     f"{rate / 8000:.2f} |")
    if torch.cuda.is_available():  # the GPU path: torch kernel, draws on the device, one copy per round
        lines += ["", f"CUDA, {torch.cuda.get_device_name()} (no compute bound stated: quoted as measured), "
                  "rounds of 40 steps replayed from CUDA graphs beside the same rounds run eagerly:", "",
                  "| sampler | batch | samples/s, graphs | samples/s, eager | graphs / eager | real-time 8 kHz "
                  "streams (graphs) |", "|---|---:|---:|---:|---:|---:|"]
        for batch in (*BATCHES, 256):
            graphs, eager = (cuda_generation_rate(model, batch, use) for use in (True, False))
            lines.append(f"| incremental, torch kernel on CUDA, generation (draws included) | {batch} | "
                         f"{graphs:,.0f} | {eager:,.0f} | {graphs / eager:.2f} | {graphs / 8000:.2f} |")
    lines += ["", "| other | figure |", "|---|---:|"]
    for backend, (ms, prime_macs) in primes.items():
        # The prime's GEMMs at the compute bound of the one thread they run on: the fastest it could be.
        floor_ms = 1000 * 2 * prime_macs / (max(peak_core, sgemm[1]) * 1e9)
        lines.append(f"| prime a 1 s seed (8,000 samples), batch 1, then {backend} steps, 1 thread | {ms:.1f} ms "
                     f"({2 * prime_macs / 1e9:.2f} GFLOP: {floor_ms / ms:.0%} of the compute bound) |")
    lines.append(f"| parallel forward (likelihood), 1 x 32,000 samples | {parallel:,.0f} samples/s |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:  # this table heads the file; the other benchmarks' sections (## ...) stay
        write_section(args.write, text)


if __name__ == "__main__":
    main()
