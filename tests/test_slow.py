"""Long checks, run by `make test-slow` (not by `make test`)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from model_core import WaveNetConfig

from .test_sampler import BACKENDS, teacher_forced_ratios

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", BACKENDS)
def test_reference_architecture_is_exact_over_two_receptive_fields(backend):
    """The paper-sized model (20 layers, receptive field 2047; weights x2, so logits reach a trained model's
    range), seeds past the receptive field, batch 8: the sampler and the float32 parallel forward both within
    the float32 tolerance (tests/float_tolerance.py) of the float64 forward."""
    config = WaveNetConfig()
    incremental, parallel = teacher_forced_ratios(config, backend, 8, 3000, 2 * config.receptive_field, scale=2.0)
    assert incremental <= 1 and parallel <= 1, f"error / float32 tolerance: incremental {incremental:.3g}, " \
                                                f"parallel {parallel:.3g}"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get"), reason="needs root on Debian")
def test_docker_image_builds_serves_and_stops_cleanly():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(["bash", "docker/smoke.sh"], cwd=root, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "docker smoke test passed" in result.stdout
