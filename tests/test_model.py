import pytest
import torch

from model_core import WaveNet, WaveNetConfig
from model_core.config import PRESETS, doubling

from .conftest import SMALL, make_model


def test_output_shape_and_receptive_field():
    model = make_model()
    logits = model(torch.randint(0, 256, (3, 50)))
    assert logits.shape == (3, 256, 50)
    assert SMALL.receptive_field == 2 * (1 + 2 + 4 + 8) + 1
    assert PRESETS["large"].receptive_field == 2 * 1023 + 1
    assert WaveNetConfig(kernel_size=3, dilation_cycle=(1, 2), stacks=1).receptive_field == 7


@pytest.mark.parametrize("t", [0, 17, 40, 99])
def test_causality_changing_input_t_changes_no_output_before_t(t):
    model = make_model()
    codes = torch.randint(0, 256, (1, 100))
    changed = codes.clone()
    changed[0, t] = (codes[0, t] + 77) % 256
    with torch.no_grad():
        a, b = model(codes), model(changed)
    assert torch.equal(a[:, :, :t], b[:, :, :t])
    assert not torch.equal(a[:, :, t], b[:, :, t])


def test_output_sees_exactly_the_receptive_field():
    model = make_model()
    rf = model.receptive_field
    codes = torch.randint(0, 256, (1, 3 * rf))
    last = 3 * rf - 1
    changed = codes.clone()
    changed[0, last - rf] += 1  # just outside the field
    with torch.no_grad():
        assert torch.equal(model(codes)[:, :, last], model(changed)[:, :, last])
        changed = codes.clone()
        changed[0, last - rf + 1] = (changed[0, last - rf + 1] + 1) % 256  # the oldest sample inside
        assert not torch.equal(model(codes)[:, :, last], model(changed)[:, :, last])


def test_speaker_conditioning_changes_the_output():
    config = WaveNetConfig(residual_channels=8, gate_channels=16, skip_channels=8, head_channels=16,
                           dilation_cycle=doubling(4), stacks=1, speakers=3)
    model = WaveNet(config)
    codes = torch.randint(0, 256, (2, 20))
    with torch.no_grad():
        a = model(codes, torch.tensor([0, 1]))
        b = model(codes, torch.tensor([0, 2]))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        model(codes)
    with pytest.raises(ValueError):
        model(codes, torch.tensor([0, 3]))


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError):
        WaveNetConfig(gate_channels=7)
    with pytest.raises(ValueError):
        WaveNetConfig.from_dict({**SMALL.to_dict(), "bogus": 1})
    assert WaveNetConfig.from_dict(SMALL.to_dict()) == SMALL
