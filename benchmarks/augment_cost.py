"""`make bench-augment`: what on-the-fly augmentation costs a training step, side by side in one run.

For the default preset's crops (batch 8, receptive field + 2,048 + 1 samples), times (a) drawing crops and
applying the front end and mu-law, (b) the same with every augmentation kind at the training run's
probability, (c) one training step (forward, backward, AdamW) of the default model on such a batch. The
data work runs in the training process between steps, so (b - a) / (c) is the share of throughput it
takes. Each figure is the median of several repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from model_core.config import PRESETS
from model_core.front_end import encode_input
from model_core.model import WaveNet
from training.augment import KINDS, Augmenter, crop_margin
from training.corpus import load_split
from training.loop import crop_loss


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("data/corpus"))
    parser.add_argument("--probability", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    config = PRESETS["default"]
    split = load_split(args.cache, "train")
    batch, target = 8, 2048
    length = config.receptive_field + target + 1
    rng = np.random.default_rng(0)
    augment = Augmenter(KINDS, config.sample_rate, args.probability)

    def plain() -> np.ndarray:
        audio, _ = split.random_crops(rng, batch, length)
        return encode_input(audio, config)

    def augmented() -> np.ndarray:
        audio, padding = split.random_crops(rng, batch, length + crop_margin(length))
        return encode_input(augment(audio, padding, length, rng)[0], config)

    model = WaveNet(config)
    optimizer = torch.optim.AdamW(model.parameters())
    crops = torch.from_numpy(plain())

    def step() -> None:
        loss = crop_loss(model, crops, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    plain_s = median_seconds(plain, args.repeats)
    augmented_s = median_seconds(augmented, args.repeats)
    step_s = median_seconds(step, max(3, args.repeats // 4))
    print(f"torch threads {torch.get_num_threads()}, augmentation probability {args.probability}, kinds: "
          f"{' '.join(KINDS)}")
    print(f"crops + front end + mu-law: {plain_s * 1e3:.1f} ms/batch")
    print(f"... with augmentation:       {augmented_s * 1e3:.1f} ms/batch")
    print(f"training step:               {step_s * 1e3:.1f} ms")
    print(f"augmentation's share of a step's time: {(augmented_s - plain_s) / (step_s + augmented_s):.1%}")


if __name__ == "__main__":
    main()
