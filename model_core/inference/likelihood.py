"""Scoring audio under the model: negative log-likelihood of each sample given all before it."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from model_core.model import WaveNet

LN2 = math.log(2)
"""Nats per bit: NLLs are computed in nats (cross-entropy) and reported in bits."""


@torch.inference_mode()
def sample_nll(model: WaveNet, codes: np.ndarray, chunk: int = 64_000,
               speaker: int | None = None) -> np.ndarray:
    """NLL in nats of codes[1:], each given the codes before it -> array of len(codes) - 1.

    Long inputs go through the parallel forward in chunks that overlap by the receptive field: every
    prediction then sees exactly the context it would see in one pass, so the total is the same while
    memory stays bounded.
    """
    codes_t = torch.as_tensor(np.asarray(codes, dtype=np.int64))
    device = model.embed.weight.device
    speakers = None if speaker is None else torch.tensor([speaker], device=device)
    context = model.receptive_field - 1
    targets = len(codes_t) - 1
    out = np.empty(max(targets, 0), dtype=np.float64)
    for start in range(0, targets, chunk):
        stop = min(start + chunk, targets)
        # Predictions for targets start+1 .. stop come from inputs start .. stop-1, plus context before.
        first = max(0, start - context)
        window = codes_t[first:stop].to(device)[None, :]
        logits = model(window, speakers)[0, :, start - first:].transpose(0, 1).float()
        nll = F.cross_entropy(logits, codes_t[start + 1: stop + 1].to(device), reduction="none")
        out[start:stop] = nll.double().cpu().numpy()
    return out


def bits_per_sample(nll_nats: np.ndarray) -> float:
    return float(np.mean(nll_nats) / LN2) if len(nll_nats) else float("nan")
