"""Installing the Debian packages that carry the training voices, when they are missing."""

from __future__ import annotations

import os
import shutil
import subprocess


def missing_debian_packages(packages: list[str]) -> list[str]:
    missing = []
    for package in packages:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def ensure_debian_packages(packages: list[str]) -> None:
    """apt-get install what is missing; needs root (or sudo) and Debian's archive."""
    if not shutil.which("dpkg-query"):
        raise RuntimeError("not a Debian system: install the Asterisk sound packages by hand, see README")
    missing = missing_debian_packages(packages)
    if not missing:
        return
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-q", *missing], check=True, env=env)
