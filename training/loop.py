"""Offline training: `wavenet train`. A flat loop: data -> loss -> step -> EMA -> eval -> checkpoint.

Never imported by the service. Multi-GPU / multi-node through torchrun (DistributedDataParallel): each
rank draws its own random crops; rank 0 evaluates, logs and writes checkpoints.
The run folder's files: run_state.py.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from model_core.checkpoint import load_checkpoint
from model_core.config import PRESETS, WaveNetConfig, doubling
from model_core.device import resolve_device
from model_core.front_end import encode_input
from model_core.inference.draws import StreamParams
from model_core.inference.generate import generate
from model_core.inference.likelihood import LN2, sample_nll
from model_core.model import WaveNet
from model_core.wav_format import wav_bytes
from training.arguments import CONFIG_FLAGS
from training.augment import Augmenter, crop_margin
from training.corpus import Split, build_corpus, load_split
from training.growth import initialise_from
from training.run_state import TrainState, plot_curves, truncate_log


def model_config(args: argparse.Namespace) -> WaveNetConfig:
    config = PRESETS[args.preset]
    overrides = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if args.highpass_hz is not None:
        overrides["highpass_hz"] = args.highpass_hz
    if args.max_dilation:
        overrides["dilation_cycle"] = doubling(args.max_dilation)
    return replace(config, **overrides)


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to min_lr."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def crop_loss(model: torch.nn.Module, crops: torch.Tensor, target_length: int) -> torch.Tensor:
    """Mean NLL (nats) of the last target_length samples of each crop; the rest is receptive-field context."""
    logits = model(crops[:, :-1])[:, :, -target_length:]
    return F.cross_entropy(logits.float(), crops[:, -target_length:])


@torch.no_grad()
def evaluate(model: WaveNet, split: Split, seconds: float, chunk: int = 16_000) -> float:
    """Held-out NLL in bits per sample over the first `seconds` of the split's files (a fixed set)."""
    model.eval()
    budget = int(seconds * model.config.sample_rate)
    total, count = 0.0, 0
    for i in range(len(split.files)):
        if count >= budget:
            break
        nll = sample_nll(model, encode_input(split.file_audio(i), model.config), chunk=chunk)
        total, count = total + nll.sum(), count + len(nll)
    return total / max(count, 1) / LN2


def _tensorboard(run: Path) -> object | None:
    """A SummaryWriter in the run folder when tensorboard is installed (it is optional); else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"))


def train(args: argparse.Namespace) -> Path:
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
    rank = dist.get_rank() if distributed else 0
    leader = rank == 0
    if args.threads:
        torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    state_path = args.run / "state.safetensors"

    config = model_config(args)
    if leader and args.data:
        build_corpus(args.data, args.cache, config.sample_rate)
    if distributed:
        dist.barrier()
    train_split, heldout_split = load_split(args.cache, "train"), load_split(args.cache, "heldout")
    if args.exclude_voice:
        train_split = train_split.select(set(args.exclude_voice), keep=False)
        heldout_split = heldout_split.select(set(args.exclude_voice), keep=False)

    torch.manual_seed(args.seed)
    model = WaveNet(config).to(device)
    init_from = None  # recorded by file name and content, not by a path that only means something here
    if args.init_from and not (args.resume and state_path.exists()):
        source, source_metadata = load_checkpoint(args.init_from)
        added = initialise_from(model, source)
        init_from = f"{args.init_from.name} (sha256 {source_metadata['sha256'][:12]}...)"
        if added and leader:
            print(f"grown from {args.init_from}: {added} new layers start as identities", flush=True)
    ema = WaveNet(config).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng([args.seed, rank])
    step, extra = 0, {"train_seconds": 0.0, "heldout_bits": None,
                      "data": ", ".join(str(d) for d in args.data or [args.cache]),
                      "augmentation": " ".join(args.augment) or "none",
                      "excluded_voices": " ".join(args.exclude_voice) or None,
                      "init_from": init_from}
    if args.resume and state_path.exists():
        step, extra = TrainState.load(state_path, model, ema, optimizer, rng)
        if distributed:  # each rank continues its own stream of crops
            rng = np.random.default_rng([args.seed, rank, step])
    first_step = step
    trained = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    stop = {"requested": False}

    def request_stop(signum: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    log_path = args.run / "log.csv"
    if leader and (step == 0 or not log_path.exists()):  # a new run starts its log afresh, as its state
        log_path.write_text("step,lr,train_bits,heldout_bits,samples_per_s,elapsed_s\n")
    elif leader:
        truncate_log(log_path, step)
    crop = config.receptive_field + args.target_length
    augmenter = Augmenter(tuple(args.augment), config.sample_rate, args.augment_probability) if args.augment else None
    margin = crop_margin(crop + 1) if augmenter else 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    started = time.monotonic()
    base_seconds = extra["train_seconds"]
    bar = tqdm(total=args.steps, initial=step, disable=not leader, unit="step", desc="training")
    board = _tensorboard(args.run) if leader else None

    def save() -> None:
        extra["train_seconds"] = base_seconds + time.monotonic() - started
        TrainState.save(state_path, model, ema, optimizer, step, rng, extra)
        plot_curves(log_path, args.run / "curves.png")
        seed = encode_input(heldout_split.file_audio(0)[: config.sample_rate], config)
        codes = generate(ema, seed, int(args.sample_seconds * config.sample_rate), StreamParams(random_seed=step))
        (args.run / "samples").mkdir(exist_ok=True)
        (args.run / "samples" / f"step-{step}.wav").write_bytes(
            wav_bytes(np.concatenate([seed, codes]), config.sample_rate))

    while step < args.steps:
        lr = learning_rate(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        audio, padding = train_split.random_crops(rng, args.batch_size, crop + 1 + margin)
        if augmenter:
            audio, padding = augmenter(audio, padding, crop + 1, rng)
        crops = torch.from_numpy(encode_input(audio, config)).to(device)
        tick = time.monotonic()
        with autocast:
            loss = crop_loss(trained, crops, args.target_length)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1.0 - args.ema)
        step += 1
        if leader:
            bits = loss.item() / LN2
            rate = args.batch_size * args.target_length / (time.monotonic() - tick)
            bar.update(1)
            bar.set_postfix(bits=f"{bits:.3f}", samples_per_s=f"{rate:,.0f}")
            heldout = ""
            if step % args.eval_every == 0 or step == args.steps:
                extra["heldout_bits"] = evaluate(ema, heldout_split, args.eval_seconds)
                heldout = f"{extra['heldout_bits']:.4f}"
                bar.write(f"step {step}: held-out {heldout} bits/sample (EMA)")
            if board is not None:
                board.add_scalar("train/bits_per_sample", bits, step)
                board.add_scalar("train/lr", lr, step)
                if heldout:
                    board.add_scalar("heldout/bits_per_sample", extra["heldout_bits"], step)
            with log_path.open("a") as log:
                log.write(f"{step},{lr:.6g},{bits:.4f},{heldout},{rate:.0f},"
                          f"{base_seconds + time.monotonic() - started:.1f}\n")
        out_of_time = bool(args.max_minutes and (time.monotonic() - started) / 60 >= args.max_minutes)
        out_of_time |= bool(args.stop_after and step - first_step >= args.stop_after)
        if distributed:
            flag = torch.tensor([float(stop["requested"] or bool(out_of_time))], device=device)
            dist.all_reduce(flag)
            stop["requested"] = flag.item() > 0
        if stop["requested"] or out_of_time:
            break
        if leader and step % args.checkpoint_every == 0:
            save()
    bar.close()
    if leader:
        save()
        if board is not None:
            board.close()
    if distributed:
        # Every rank leaves together: a rank that tore its gloo group down while the leader was still saving
        # died once in CI with "terminate called without an active exception" (SIGABRT).
        dist.barrier()
        dist.destroy_process_group()
    return state_path
