"""Capture real probe outputs from the lab for the unit tests (run as root, lab up).

    flock /tmp/mailtui-lab-tests.lock .venv/bin/python tests/unit/checks/capture_lab.py

Switches the lab to weak, captures, switches back to hardened, captures. Writes
data/sections.<profile>.json (every probe section as the checks read it) and the raw
``postconf -n``/``doveconf -n``/``sshd -T`` texts next to it. The weak state includes the
sshd drop-in the integration tests use (tests/integration/test_checks_lab.py WEAK_SSHD).
"""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(REPO))

from mailtui.core.checks.gather import run_probes  # noqa: E402
from mailtui.core.transport import LocalTransport  # noqa: E402
from tests.integration.test_checks_lab import weak_sshd  # noqa: E402

LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
VOLATILE = ("updates", "disk", "os", "unattended", "reboot")


async def capture(profile: str) -> None:
    subprocess.run([*LAB, "profile", profile], check=True, capture_output=True)
    with weak_sshd(profile == "weak"):
        transport = LocalTransport()
        await transport.connect()
        sections, _ = await run_probes(transport)
    data = {name: {"text": sec.text, "status": sec.status} for name, sec in sections.items()}
    (HERE / "data" / f"sections.{profile}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    for name, fname in (("postconf-n", "postconf-n"), ("postconf-P", "postconf-P"), ("postconf-M", "postconf-M"),
                        ("doveconf-n", "doveconf-n"), ("sshd", "sshd-T")):
        (HERE / "data" / f"{fname}.{profile}.txt").write_text(sections[name].text + "\n")


async def main() -> None:
    await capture("weak")
    await capture("hardened")


if __name__ == "__main__":
    asyncio.run(main())
