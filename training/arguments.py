"""The flags of `wavenet train`, apart from the training code so that the CLI parser stays light."""

from __future__ import annotations

import argparse
from pathlib import Path

from model_core.config import PRESETS
from training.augment import KINDS

CONFIG_FLAGS = ("residual_channels", "gate_channels", "skip_channels", "head_channels", "kernel_size",
                "stacks", "sample_rate")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", nargs="+", type=Path, help="audio roots (each a split root)")
    parser.add_argument("--cache", type=Path, default=Path("data/corpus"), help="mu-law corpus cache")
    parser.add_argument("--run-dir", dest="run", type=Path, required=True,
                        help="run folder (checkpoints, logs)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    for name in CONFIG_FLAGS:
        parser.add_argument("--" + name.replace("_", "-"), type=int)
    parser.add_argument("--max-dilation", type=int, help="dilation cycle 1, 2, ..., this")
    parser.add_argument("--highpass-hz", type=float,
                        help="front-end DC blocker cutoff recorded in the checkpoint (0: none; default: preset's)")
    parser.add_argument("--augment", nargs="*", choices=KINDS, default=[], metavar="KIND",
                        help=f"augmentations applied on the fly, any of: {' '.join(KINDS)}")
    parser.add_argument("--augment-probability", type=float, default=0.5,
                        help="chance that each chosen augmentation hits a crop")
    parser.add_argument("--exclude-voice", nargs="*", default=[], metavar="VOICE",
                        help="train without these voices (corpus folder names, e.g. it_IT_m_Carlo): "
                             "leave-one-voice-out")
    parser.add_argument("--init-from", type=Path,
                        help="start a new run from this checkpoint's weights: the same architecture, or more "
                             "layers (e.g. --stacks 3 from a 2-stack model; the new ones start as identities)")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--stop-after", type=int, help="leave after this many steps of this invocation "
                        "(a staged run on a preemptible machine; --resume continues it)")
    parser.add_argument("--max-minutes", type=float, help="stop (and checkpoint) after this wall time")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--target-length", type=int, default=2048, help="predicted samples per crop")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-seconds", type=float, default=120.0, help="held-out audio per evaluation")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--sample-seconds", type=float, default=1.0, help="continuation written per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--resume", action="store_true", help="continue the run folder's state exactly")
