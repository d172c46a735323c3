"""`make bench-contention`: the native kernel's generation speed when another process holds a core, the
situation of a service whose HTTP loop, decoding or scoring competes with the kernel's threads.

16 streams of the shipped model, 1 and 2 kernel threads, each measured with the machine idle and with a
busy-looping process beside it; under each OpenMP wait policy (OMP_WAIT_POLICY is read when OpenMP
starts, so every policy runs in a process of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.report import write_section
from model_core.checkpoint import SHIPPED_CHECKPOINT

MEASURE = """
import json, sys, torch
torch.set_num_threads(1)
from model_core import load_checkpoint
from benchmarks.sampler_speed import generation_rate
model, _ = load_checkpoint(sys.argv[1])
print(json.dumps({n: generation_rate(model, "native", int(sys.argv[2]), threads=n) for n in (1, 2)}))
"""


def rates(policy: str, checkpoint: Path, streams: int) -> dict[str, float]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(checkpoint), str(streams)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--write", type=Path, help="write the results into this Markdown file, replacing the last run")
    args = parser.parse_args()
    rows = []
    for policy in ("ACTIVE", "PASSIVE"):
        idle = rates(policy, args.checkpoint, args.streams)
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            busy = rates(policy, args.checkpoint, args.streams)
        finally:
            hog.kill()
        for threads in ("1", "2"):
            rows.append(f"| {policy} | {threads} | {idle[threads]:,.0f} | {busy[threads]:,.0f} |")
    text = "\n".join([
        "", "## The kernel beside a busy process", "",
        f"Command: `python -m benchmarks.kernel_contention` (`make bench-contention`), {args.streams} streams, "
        f"checkpoint `{args.checkpoint.name}`, native kernel, samples/s (`wavenet` runs PASSIVE):", "",
        "| OMP_WAIT_POLICY | kernel threads | idle | one core busy-looping elsewhere |", "|---|---:|---:|---:|",
        *rows]) + "\n"
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
