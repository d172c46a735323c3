"""Starting a run from a checkpoint: the same model, or a deeper one that computes the same function."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from model_core.config import PRESETS
from model_core.model import WaveNet
from training.growth import initialise_from

TINY = PRESETS["tiny"]


def _trained_like(config) -> WaveNet:
    """A model whose every weight is non-zero and far from its initialisation, like a trained one."""
    torch.manual_seed(0)
    model = WaveNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_the_same_architecture_takes_every_weight():
    source = _trained_like(TINY)
    torch.manual_seed(1)
    model = WaveNet(TINY)
    assert initialise_from(model, source) == 0
    for (name, a), b in zip(source.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("stacks, growth", [
    (1, {"stacks": 2}),                                   # new layers after the old ones
    (2, {"dilation_cycle": (1, 2, 4, 8, 16, 32)}),        # a new layer between the two old stacks, one after
])
def test_a_grown_model_computes_the_old_function_and_then_trains_its_new_layers(stacks, growth):
    old_config = dataclasses.replace(TINY, stacks=stacks)
    source = _trained_like(old_config)
    grown_config = dataclasses.replace(old_config, **growth)
    torch.manual_seed(1)
    grown = WaveNet(grown_config)
    assert initialise_from(grown, source) == grown_config.layers - old_config.layers > 0
    assert grown.receptive_field > source.receptive_field

    codes = torch.randint(0, 256, (2, 300))
    with torch.no_grad():
        assert torch.equal(grown(codes), source(codes))

    new_layer = grown.layers[TINY.layers]  # dilation 32 in the second case, 1 in the first
    conv_before = new_layer.conv.weight.detach().clone()
    optimizer = torch.optim.Adam(grown.parameters(), lr=1e-2)
    for _ in range(2):  # the first step moves the zeroed projection, the second the convolution behind it
        optimizer.zero_grad()
        F.cross_entropy(grown(codes[:, :-1]), codes[:, 1:]).backward()
        optimizer.step()
    assert new_layer.out.weight.abs().max() > 0
    assert not torch.equal(new_layer.conv.weight, conv_before)


@pytest.mark.parametrize("change", [
    {"residual_channels": 24},                              # another width
    {"highpass_hz": 0.0},                                   # another front end
    {"dilation_cycle": (1, 2, 4, 8, 32)},                   # dilations that do not continue the old ones
    {"stacks": TINY.stacks + 1, "kernel_size": 3},          # deeper, but another kernel too
])
def test_refuses_a_model_that_is_not_the_checkpoint_or_a_deeper_one(change):
    with pytest.raises(ValueError, match="cannot start this model"):
        initialise_from(WaveNet(dataclasses.replace(TINY, **change)), _trained_like(TINY))


def test_refuses_a_shallower_model():
    deeper = _trained_like(dataclasses.replace(TINY, stacks=2))
    with pytest.raises(ValueError, match="cannot start this model"):
        initialise_from(WaveNet(TINY), deeper)
