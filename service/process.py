"""`wavenet serve` as a child process on a free loopback port: what the end-to-end tests, the benchmarks and
the load-balancer test start and stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    def __init__(self, checkpoint: Path, log_path: Path, grace_seconds: float = 5, port: int | None = None,
                 **settings: str) -> None:
        """`port`: a given one, e.g. to restart a replica where its load balancer expects it; default: a free one."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WAVENET_CHECKPOINT": str(checkpoint), "WAVENET_LOG_LEVEL": "warning",
               **{f"WAVENET_{k.upper()}": str(v) for k, v in settings.items()}}
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wavenet.cli", "serve", "--port", str(self.port),
             "--grace-seconds", str(grace_seconds)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def status(self, field: str) -> int:
        """A kB figure of the server process from /proc (VmRSS, VmHWM: peak since start or reset_peak)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def reset_peak(self) -> None:
        """Sets VmHWM back to the current RSS (Linux: 5 > /proc/PID/clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> int:
        self.process.terminate()
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.close()
        return code
