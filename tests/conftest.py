"""Shared fixtures: the real lab (sshd, Postfix, Dovecot, Knot on loopback) and isolation.

Lab tests need root (the lab installs Debian packages and starts daemons). Without it
they skip and say why; when the ``CI`` variable is set they fail instead, so a broken
lab can never turn CI green by skipping.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    # Imported here, at the top of the stack: hypothesis's pytest plugin otherwise imports
    # it during the terminal summary, where CPython 3.11.7 raises "AST constructor
    # recursion depth mismatch" and turns a green run red.
    import hypothesis  # noqa: F401
except ImportError:
    hypothesis = None

REPO = Path(__file__).resolve().parent.parent
LAB_SCRIPT = REPO / "tests" / "lab" / "lab.py"
LAB_DIR = Path(os.environ.get("MAILTUI_LAB_DIR", "/var/lib/mailtui-lab"))


@dataclass(frozen=True)
class Lab:
    """What tests need to know about the running lab (from its lab.json)."""

    info: dict

    @property
    def ssh_host(self) -> str:
        return self.info["ssh"]["host"]

    @property
    def ssh_port(self) -> int:
        return self.info["ssh"]["port"]

    @property
    def admin_user(self) -> str:
        return self.info["ssh"]["users"]["admin"]["name"]

    @property
    def admin_key(self) -> str:
        return self.info["ssh"]["users"]["admin"]["key"]

    @property
    def limited_user(self) -> str:
        return self.info["ssh"]["users"]["limited"]["name"]

    @property
    def limited_key(self) -> str:
        return self.info["ssh"]["users"]["limited"]["key"]

    @property
    def limited_password(self) -> str:
        return self.info["ssh"]["users"]["limited"]["password"]

    @property
    def known_hosts_line(self) -> str:
        return self.info["ssh"]["known_hosts_line"]

    @property
    def host_key_fingerprint(self) -> str:
        return self.info["ssh"]["host_key_fingerprint"]

    @property
    def postfix_version(self) -> str:
        return self.info["postfix"]["version"]

    @property
    def dovecot_version(self) -> str:
        return self.info["dovecot"]["version"]

    @property
    def dns(self) -> str:
        return f"{self.info['dns']['server']}:{self.info['dns']['port']}"

    @property
    def zone(self) -> str:
        return self.info["dns"]["zone"]

    def lab(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``tests/lab/lab.py ARGS`` (e.g. ``sshd-restart --drop-sessions``)."""
        return subprocess.run(
            [sys.executable, str(LAB_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=True
        )


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the lab is required in CI: {reason}", pytrace=False)
    pytest.skip(f"lab not available: {reason}")


@pytest.fixture(scope="session")
def lab() -> Lab:
    """The running lab; started (idempotently) if it is not up yet."""
    if os.geteuid() != 0:
        _unavailable("needs root (run the suite with `bash tests/run` as root)")
    if not LAB_SCRIPT.exists():
        _unavailable(f"{LAB_SCRIPT} is missing")
    status = subprocess.run([sys.executable, str(LAB_SCRIPT), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        started = subprocess.run([sys.executable, str(LAB_SCRIPT), "up"], capture_output=True, text=True, timeout=600)
        if started.returncode != 0:
            _unavailable(f"`lab.py up` failed:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
    try:
        info = json.loads((LAB_DIR / "lab.json").read_text())
    except (OSError, ValueError) as exc:
        _unavailable(f"cannot read {LAB_DIR / 'lab.json'}: {exc}")
    return Lab(info)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~ or the real mailtui config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAILTUI_CONFIG", str(home / ".config" / "mailtui" / "config.toml"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
