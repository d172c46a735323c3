"""Starting a run from a trained checkpoint, the same model or a deeper one.

Training a deeper WaveNet from scratch on the development machine's two cores costs many hours before it
is back where the shipped model already is. Growing it instead keeps what was learned: the new model takes
every weight of the old one, and each added layer starts with its output projection at zero, so it adds
nothing to the residual stream or the skip sum. The grown model computes exactly the old model's function
(tested), and training moves the new layers away from zero from the first step on (the gradient of a
zeroed output projection is its input times the error, not zero), the way zero-initialised residual
branches are trained (Goyal et al., 2017; Bachlechner et al., 2020, "ReZero").
"""

from __future__ import annotations

import dataclasses

import torch

from model_core.model import WaveNet


def initialise_from(model: WaveNet, source: WaveNet) -> int:
    """Copy `source`'s weights into `model` -> the number of layers added (0: the same architecture).

    `model` may have more layers than `source` when `source`'s dilations are a subsequence of its own:
    more stacks, or a longer dilation cycle (1, ..., 256 around a model of 1, ..., 128). Every other size,
    and the front end, must be the same, since weights trained for another width or another input
    preparation mean something else.
    """
    grown, old = model.config, source.config
    same_otherwise = dataclasses.replace(grown, dilation_cycle=old.dilation_cycle, stacks=old.stacks) == old
    kept = _kept_layers(grown.dilations, old.dilations)
    if not same_otherwise or kept is None:
        raise ValueError(f"cannot start this model from that checkpoint: it has {old}, this one {grown}; "
                         "only layers with the same sizes can be added around its own")
    model.load_state_dict({name: value for name, value in source.state_dict().items()
                           if not name.startswith("layers.")}, strict=False)
    with torch.no_grad():
        for index, layer in enumerate(model.layers):
            if index in kept:
                layer.load_state_dict(source.layers[kept[index]].state_dict())
            else:
                layer.out.weight.zero_()
                layer.out.bias.zero_()
    return grown.layers - old.layers


def _kept_layers(grown: tuple[int, ...], old: tuple[int, ...]) -> dict[int, int] | None:
    """{index in `grown`: index in `old`} placing the old dilations, in order, among the grown ones, or
    None when they are not a subsequence. Greedy matching finds a placement whenever one exists."""
    kept: dict[int, int] = {}
    for index, dilation in enumerate(grown):
        if len(kept) < len(old) and dilation == old[len(kept)]:
            kept[index] = len(kept)
    return kept if len(kept) == len(old) else None
