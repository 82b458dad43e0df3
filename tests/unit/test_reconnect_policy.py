"""Reconnect with backoff for network failures; never retry login or host-key failures."""

from __future__ import annotations

import pytest

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import (
    AuthenticationFailed,
    ConnectFailed,
    ConnectionLost,
    HostKeyChanged,
    SshOptions,
    SshTransport,
)
from mailtui.core.transport import ssh as ssh_module


@pytest.fixture
def transport(monkeypatch, tmp_path):
    monkeypatch.setattr(ssh_module, "BACKOFF", (0.0,))
    profile = ServerProfile("x", "127.0.0.1", 2222, "u", agent=False)
    return SshTransport(profile, SshOptions(known_hosts_files=(str(tmp_path / "kh"),), reconnect_deadline=5))


def _opener(outcomes):
    calls = []

    async def open_():
        calls.append(1)
        outcome = outcomes[min(len(calls) - 1, len(outcomes) - 1)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return open_, calls


class _FakeConn:
    def abort(self):
        return None


async def test_network_failures_are_retried_until_the_server_is_back(transport, monkeypatch):
    open_, calls = _opener([ConnectFailed("refused"), ConnectFailed("refused"), _FakeConn()])
    monkeypatch.setattr(transport, "_open", open_)
    messages = []
    transport.on_status.append(messages.append)
    attempts = await transport._recover(ConnectionLost("lost"))
    assert attempts == 3 and len(calls) == 3
    assert messages == [f"Reconnected to {transport.label} after 3 attempt(s)"]


@pytest.mark.parametrize(
    "failure",
    [AuthenticationFailed("refused the login"), HostKeyChanged("h", 22, ["SHA256:a"], "SHA256:b", [])],
    ids=["auth", "hostkey"],
)
async def test_login_and_host_key_failures_are_never_retried(transport, monkeypatch, failure):
    open_, calls = _opener([failure, _FakeConn()])
    monkeypatch.setattr(transport, "_open", open_)
    with pytest.raises(type(failure)):
        await transport._recover(ConnectionLost("lost"))
    assert len(calls) == 1


async def test_reconnecting_gives_up_after_the_deadline(transport, monkeypatch):
    transport.options = SshOptions(known_hosts_files=(), reconnect_deadline=0.05)
    monkeypatch.setattr(ssh_module, "BACKOFF", (0.02,))
    open_, calls = _opener([ConnectFailed("host down")])
    monkeypatch.setattr(transport, "_open", open_)
    with pytest.raises(ConnectFailed, match="host down"):
        await transport._recover(ConnectionLost("lost"))
    assert 2 <= len(calls) <= 10
