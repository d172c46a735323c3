"""The checkpoint rule from an installed wheel, where the repository's weights/ does not exist (the Docker
image's situation): --checkpoint, else WAVENET_CHECKPOINT, else a clear error, never a path that is not there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from model_core import save_checkpoint

from .conftest import make_model, vowel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel and installed (no dependencies) into a folder of its own. Built from a
    copy of the sources: setuptools leaves a build/ folder where it builds, and one left in the work tree
    would carry deleted modules into later wheels."""
    source, wheels, target = (tmp_path_factory.mktemp(name) for name in ("source", "wheels", "site"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source)
    for package in ("model_core", "service", "training", "wavenet"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    wheel = next(wheels.glob("wavenet_service-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def wavenet(installed: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("WAVENET_CHECKPOINT", "PYTHONPATH")}
    return subprocess.run([sys.executable, "-m", "wavenet", *args], cwd=cwd, capture_output=True, text=True,
                          env={**environment, "PYTHONPATH": str(installed), **env})


def test_the_installed_package_is_the_one_that_runs(installed, tmp_path):
    found = subprocess.run([sys.executable, "-c", "import model_core, wavenet; print(model_core.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(installed)}).stdout
    assert found.startswith(str(installed)), found
    assert not (installed / "weights").exists()


def test_commands_use_the_environment_checkpoint_or_say_what_is_missing(installed, tmp_path):
    checkpoint = save_checkpoint(make_model(), tmp_path / "model.safetensors")
    audio = tmp_path / "a.wav"
    soundfile.write(audio, vowel(0.05), 8000)

    missing = wavenet(installed, tmp_path, "likelihood", str(audio))
    assert missing.returncode != 0
    assert "no checkpoint: pass --checkpoint PATH or set WAVENET_CHECKPOINT" in missing.stderr

    from_env = wavenet(installed, tmp_path, "likelihood", str(audio), WAVENET_CHECKPOINT=str(checkpoint))
    assert from_env.returncode == 0, from_env.stderr
    assert '"samples": 399' in from_env.stdout

    out = tmp_path / "out.wav"
    argument = wavenet(installed, tmp_path, "generate", "--checkpoint", str(checkpoint), "--duration", "0.01",
                       "--out", str(out), WAVENET_CHECKPOINT=str(tmp_path / "elsewhere.safetensors"))
    assert argument.returncode == 0, argument.stderr  # the argument wins over the environment
    assert len(soundfile.read(out)[0]) == 80 and not np.isnan(soundfile.read(out)[0]).any()


def test_the_wheel_carries_the_web_page_and_the_kernel_source(installed):
    assert (installed / "service" / "web" / "index.html").is_file()
    assert (installed / "model_core" / "inference" / "kernels" / "wavenet_step.h").is_file()
