"""WaveNet model core: mu-law codec, model, incremental sampler, checkpoints, audio I/O."""

from model_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model_core.config import PRESETS, WaveNetConfig
from model_core.inference.sampler import IncrementalSampler
from model_core.model import WaveNet
from model_core.mu_law import mu_law_decode, mu_law_encode

__all__ = [
    "PRESETS",
    "CheckpointError",
    "IncrementalSampler",
    "WaveNet",
    "WaveNetConfig",
    "load_checkpoint",
    "mu_law_decode",
    "mu_law_encode",
    "save_checkpoint",
]
