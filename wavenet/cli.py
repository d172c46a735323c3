"""The `wavenet` command line, on top of the core, the training wing and the service.

Each subcommand imports only what it needs, when it runs: generation never loads training code or the
service, and the Docker image (which ships no training code) still runs everything but `train`, `export`,
`data` and `eval`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from model_core.checkpoint import resolve_checkpoint
from model_core.inference.kernels import BACKENDS
from model_core.wav_format import WAV_FORMATS


def _generate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from model_core.audio_io import read_audio
    from model_core.checkpoint import load_checkpoint
    from model_core.front_end import encode_input
    from model_core.inference.draws import StreamParams
    from model_core.inference.generate import generate
    from model_core.wav_format import wav_bytes

    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint))
    rate = model.config.sample_rate
    seed = encode_input(read_audio(args.seed, rate), model.config) if args.seed else None
    if args.seed_seconds and seed is not None:
        seed = seed[: int(args.seed_seconds * rate)]
    total = int(round(args.duration * rate))
    with tqdm(total=total, unit="sample", unit_scale=True, desc="generating") as bar:
        codes = generate(model, seed, total, StreamParams(args.temperature, args.random_seed),
                         backend=args.backend, on_progress=bar.update)
    if args.include_seed and seed is not None:
        codes = list(seed) + list(codes)
    Path(args.out).write_bytes(wav_bytes(codes, rate, args.format))
    print(f"wrote {len(codes)} samples ({len(codes) / rate:.2f} s) to {args.out}", file=sys.stderr)


def _likelihood(args: argparse.Namespace) -> None:
    from model_core.audio_io import read_audio
    from model_core.checkpoint import load_checkpoint
    from model_core.front_end import encode_input
    from model_core.inference.likelihood import bits_per_sample, sample_nll

    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint))
    for path in args.files:
        nll = sample_nll(model, encode_input(read_audio(path, model.config.sample_rate), model.config))
        print(json.dumps({"file": str(path), "samples": len(nll),
                          "bits_per_sample": round(bits_per_sample(nll), 4)}))


def _data(args: argparse.Namespace) -> None:
    from training.corpus import ASTERISK_ROOT, ASTERISK_VOICES, PROMPT_VOICES_ROOT, TRAINED_PROMPT_VOICES, build_corpus

    roots = ([ASTERISK_ROOT / voice for voice in ASTERISK_VOICES.values()]
             + [PROMPT_VOICES_ROOT / voice for voice in TRAINED_PROMPT_VOICES])
    missing = [str(root) for root in roots if not root.is_dir()]
    if missing:
        sys.exit(f"wavenet: error: the training voices are not installed ({', '.join(missing)} missing): "
                 "run scripts/install-voices.sh (root), or `make data`")
    index = build_corpus(roots, args.cache, args.sample_rate)
    print(json.dumps({"cache": str(args.cache), "files": {k: len(v["files"]) for k, v in index["splits"].items()},
                      "seconds": index["seconds"], "skipped": len(index["skipped"])}))


def _train(args: argparse.Namespace) -> None:
    from training.loop import train

    print(train(args))


def _export(args: argparse.Namespace) -> None:
    from training.run_state import export

    print(export(args.run, args.out, args.data_description, args.heldout_nll_bits, args.mix_with, args.mix_weight))


def _eval(args: argparse.Namespace) -> None:
    from training.evaluate import CONDITIONS, evaluate_files, markdown_table

    conditions = list(CONDITIONS) if args.robustness else ["clean"]
    result = evaluate_files(resolve_checkpoint(args.checkpoint), args.data, args.max_files, conditions,
                            set(args.voice or []))
    print(markdown_table(result) if args.markdown else json.dumps(result, indent=2))


def _serve(args: argparse.Namespace) -> None:
    import asyncio
    import logging
    import time

    import uvicorn

    from model_core.checkpoint import load_checkpoint
    from service.app import create_app
    from service.http_protocol import GuardedH11Protocol
    from service.settings import Settings

    settings = Settings(**({"checkpoint": args.checkpoint} if args.checkpoint else {}))
    # Read once, here: a bad checkpoint fails with one line before uvicorn starts, and the app gets the model.
    checkpoint = load_checkpoint(resolve_checkpoint(settings.checkpoint))
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The engine thread needs the GIL back after every kernel call; with the default 5 ms switch interval a
    # busy event loop can keep it waiting longer than a whole round of steps takes (+35% under 16 streams).
    sys.setswitchinterval(0.0005)
    app = create_app(settings, checkpoint)

    class DropCutStreamTracebacks(logging.Filter):
        """A stream cut when the grace period ends is logged once, in words, by the app; uvicorn would add
        a CancelledError traceback for it."""

        def filter(self, record: logging.LogRecord) -> bool:
            return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))

    logging.getLogger("uvicorn.error").addFilter(DropCutStreamTracebacks())

    class GracefulServer(uvicorn.Server):
        """On SIGTERM/SIGINT the app starts draining (/readyz 503, new streams refused) while live streams
        finish. uvicorn re-raises the signal once its graceful shutdown is done, so the process would die
        by it (status 143); a shutdown that let every live stream finish is a success (exit 0), one that
        had to cut streams after the grace period is not (exit 1, each cut stream logged)."""

        def handle_exit(self, sig: int, frame: object) -> None:
            app.state.lifecycle.start_draining(time.monotonic() + args.grace_seconds)
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    protocol = GuardedH11Protocol.with_limits(settings.max_header_bytes, settings.header_timeout_seconds)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=settings.log_level,
                            timeout_graceful_shutdown=args.grace_seconds, http=protocol,
                            h11_max_incomplete_event_size=settings.max_header_bytes)
    GracefulServer(config).run()
    if app.state.lifecycle.cut_streams:
        sys.exit(f"wavenet: {app.state.lifecycle.cut_streams} live stream(s) were cut: the grace period "
                 f"({args.grace_seconds:g} s) ended before they did")


CHECKPOINT_HELP = "default: WAVENET_CHECKPOINT, else the shipped model of a source checkout"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavenet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="continue a seed WAV offline")
    gen.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    gen.add_argument("--seed", help="seed audio (WAV/FLAC/OGG); omitted: start from silence")
    gen.add_argument("--seed-seconds", type=float, help="use only the first SECONDS of the seed")
    gen.add_argument("--duration", type=float, required=True, help="seconds to generate")
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--random-seed", type=int, default=0)
    gen.add_argument("--format", choices=WAV_FORMATS, default="pcm16")
    gen.add_argument("--include-seed", action="store_true", help="prepend the seed to the output")
    gen.add_argument("--backend", choices=BACKENDS, default="auto")
    gen.add_argument("--out", required=True)
    gen.set_defaults(handler=_generate)

    lik = sub.add_parser("likelihood", help="score audio files: bits per sample under the model")
    lik.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    lik.add_argument("files", nargs="+")
    lik.set_defaults(handler=_likelihood)

    data = sub.add_parser("data", help="build the corpus cache from the installed Asterisk voices "
                          "(scripts/install-voices.sh installs them)")
    data.add_argument("--cache", type=Path, default=Path("data/corpus"))
    data.add_argument("--sample-rate", type=int, default=8000)
    data.set_defaults(handler=_data)

    train = sub.add_parser("train", help="train a WaveNet on directories of audio files")
    train.set_defaults(handler=_train)
    if importlib.util.find_spec("training") is not None:  # an image without the training wing has no flags
        from training.arguments import add_train_arguments

        add_train_arguments(train)

    exp = sub.add_parser("export", help="write a run's EMA weights as a checkpoint")
    exp.add_argument("--run-dir", dest="run", type=Path, required=True)
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument("--data-description", help="training data, for the checkpoint's metadata")
    exp.add_argument("--heldout-nll-bits", type=float, help="the held-out figure to record, e.g. from "
                     "`wavenet eval` on the whole split (default: the run's last periodic evaluation)")
    exp.add_argument("--mix-with", type=Path, help="a checkpoint of the same architecture (e.g. the one the run "
                     "started from) to average the EMA weights with")
    exp.add_argument("--mix-weight", type=float, default=1.0,
                     help="with --mix-with: the EMA weights' share, the checkpoint gets the rest")
    exp.set_defaults(handler=_export)

    ev = sub.add_parser("eval", help="NLL in bits per sample beside classical baselines")
    ev.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    ev.add_argument("--data", type=Path, required=True, help="a directory of audio files or a corpus cache")
    ev.add_argument("--max-files", type=int)
    ev.add_argument("--robustness", action="store_true", help="also score every file under each condition "
                    "of training.evaluate.CONDITIONS (DC offset, gains, telephone band, speed, noise, hum)")
    ev.add_argument("--voice", nargs="*", help="only these voices of a corpus cache (leave-one-voice-out)")
    ev.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    ev.set_defaults(handler=_eval)

    serve = sub.add_parser("serve", help="run the HTTP service (settings: WAVENET_* environment variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    serve.add_argument("--grace-seconds", type=float, default=30.0,
                       help="on SIGTERM, how long live streams may take to finish")
    serve.set_defaults(handler=_serve)
    return parser


TRAINING_COMMANDS = ("data", "train", "export", "eval")


def main(argv: list[str] | None = None) -> None:
    from model_core.audio_io import AudioError
    from model_core.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    if args.command in TRAINING_COMMANDS and importlib.util.find_spec("training") is None:
        sys.exit(f"wavenet: error: `{args.command}` needs the training wing, which this installation (e.g. the "
                 "service image) does not include: run it from a source checkout")
    if getattr(args, "duration", 1.0) <= 0 or getattr(args, "temperature", 1.0) <= 0:
        sys.exit("wavenet: error: --duration and --temperature must be > 0")
    try:
        args.handler(args)
    except (AudioError, CheckpointError, FileNotFoundError) as error:
        sys.exit(f"wavenet: error: {error}")


if __name__ == "__main__":  # torchrun -m wavenet.cli train ...
    main()
