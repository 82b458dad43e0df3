"""SSH: banner, host key and key exchange algorithms, whether password login is offered.

The algorithm lists come from the server's first KEXINIT packet, read by hand (as
ssh-audit does): it is sent in clear before any key exchange, so no crypto and no login is
needed. Whether passwords are offered is asked the standard way (RFC 4252 "none" request,
through asyncssh) without ever sending a password or a key.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.banner import parse_disclosure
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, LineChannel, ProtocolViolation, local_addr_for
from mailtui.core.scan.registry import register


MAX_PACKET = 35000  # RFC 4253 6.1: implementations must handle 35000-byte packets; more is hostile
KEXINIT_FIELDS = (
    "kex_algorithms", "server_host_key_algorithms", "encryption_c2s", "encryption_s2c", "mac_c2s", "mac_s2c",
    "compression_c2s", "compression_s2c", "languages_c2s", "languages_s2c",
)


@dataclass(frozen=True, slots=True)
class SshIdent:
    proto: str
    software: str
    comments: str


def parse_ssh_ident(line: str) -> SshIdent:
    """``SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10`` -> (2.0, OpenSSH_9.2p1, Debian-2+deb12u10)."""
    if not line.startswith("SSH-"):
        raise ProtocolViolation(f"not an SSH identification line: {line[:80]!r}")
    rest = line[4:]
    proto, _, rest = rest.partition("-")
    software, _, comments = rest.partition(" ")
    return SshIdent(proto, software, comments)


def parse_kexinit(payload: bytes) -> dict[str, tuple[str, ...]]:
    """The name-lists of an SSH_MSG_KEXINIT payload (RFC 4253 7.1). Raises ProtocolViolation."""
    if not payload or payload[0] != 20:
        raise ProtocolViolation("the first SSH packet is not KEXINIT")
    pos = 17  # message number + 16-byte cookie
    out: dict[str, tuple[str, ...]] = {}
    for name in KEXINIT_FIELDS:
        if pos + 4 > len(payload):
            raise ProtocolViolation("KEXINIT truncated")
        (length,) = struct.unpack(">I", payload[pos : pos + 4])
        pos += 4
        if pos + length > len(payload):
            raise ProtocolViolation("KEXINIT name-list overruns the packet")
        text = payload[pos : pos + length].decode("ascii", "replace")
        pos += length
        out[name] = tuple(x for x in text.split(",") if x)
    return out


def parse_packet(header_and_body: bytes) -> bytes:
    """Payload of an unencrypted binary packet (length, padding length, payload, padding)."""
    (length,) = struct.unpack(">I", header_and_body[:4])
    pad = header_and_body[4]
    return header_and_body[5 : 4 + length - pad]


WEAK_HOST_KEYS = {"ssh-dss": "DSA (1024-bit, removed from OpenSSH)", "ssh-rsa": "RSA with SHA-1 signatures"}
WEAK_KEX = {
    "diffie-hellman-group1-sha1": "1024-bit group, SHA-1",
    "diffie-hellman-group14-sha1": "SHA-1",
    "diffie-hellman-group-exchange-sha1": "SHA-1",
    "gss-group1-sha1-*": "SHA-1",
}


def judge_algorithms(algs: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """(weak host key algorithms, weak kex algorithms) offered."""
    hk = [a for a in algs.get("server_host_key_algorithms", ()) if a in WEAK_HOST_KEYS]
    # ssh-rsa alongside rsa-sha2-* is only the SHA-1 fallback name: weak only if it is the sole RSA option.
    if "ssh-rsa" in hk and any(a.startswith("rsa-sha2-") for a in algs.get("server_host_key_algorithms", ())):
        hk.remove("ssh-rsa")
    kex = [a for a in algs.get("kex_algorithms", ()) if a in WEAK_KEX]
    return hk, kex


BANNER = Check("ssh.banner", "ssh", "SSH version string",
               "SSH always announces its software version; Debian adds its patch level (hide with "
               "DebianBanner no). Keep the package updated.", Severity.LOW, config=("DebianBanner",))
HOSTKEYS = Check("ssh.host_keys", "ssh", "SSH host key and key exchange algorithms are strong",
                 "The server offers DSA host keys, SHA-1-only RSA signatures or SHA-1 key exchange.",
                 Severity.MEDIUM,
                 config=("HostKey", "HostKeyAlgorithms", "KexAlgorithms"))
PASSWORD = Check("ssh.password_auth", "ssh", "SSH password login disabled",
                 "The server offers password (or keyboard-interactive) login: it will be brute-forced around the "
                 "clock. Use keys: PasswordAuthentication no, KbdInteractiveAuthentication no.", Severity.MEDIUM, config=("PasswordAuthentication", "KbdInteractiveAuthentication"))
SSH_BLOCKED = Check("ssh.blocked", "ssh", "SSH probe blocked", "The SSH server refused or stalled the probe.",
                    Severity.INFO, config=("MaxStartups", "fail2ban jail sshd"))


async def read_kexinit(ctx, channel: LineChannel) -> tuple[str, dict[str, tuple[str, ...]]]:
    ident = None
    for _ in range(20):  # RFC 4253 4.2: other lines may precede the identification
        line = await channel.readline("its SSH identification")
        if line.startswith("SSH-"):
            ident = line
            break
    if ident is None:
        raise ProtocolViolation("no SSH identification line")
    await channel.send("SSH-2.0-mailtui_scan")
    try:
        head = await asyncio.wait_for(channel.reader.readexactly(5), channel.limits.io_timeout)
        (length,) = struct.unpack(">I", head[:4])
        if not 12 <= length <= MAX_PACKET:
            raise ProtocolViolation(f"SSH packet length {length} out of range")
        body = await asyncio.wait_for(channel.reader.readexactly(length - 1), channel.limits.io_timeout)
    except asyncio.TimeoutError:
        raise Blocked("no KEXINIT from the server in time") from None
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        raise Blocked("the server closed the connection before KEXINIT") from None
    payload = parse_packet(head + body)
    algs = parse_kexinit(payload)
    channel.transcript.note("KEXINIT: " + "; ".join(f"{k}={','.join(v)}" for k, v in algs.items() if v))
    return ident, algs


async def offered_auth_methods(ctx, ip: str, port: int) -> set[str]:
    """Which login methods the server offers to an unknown user (nothing is sent but 'none')."""
    import asyncssh

    offered: set[str] = set()

    class _Client(asyncssh.SSHClient):
        def password_auth_requested(self):
            offered.add("password")
            return None

        def kbdint_auth_requested(self):
            offered.add("keyboard-interactive")
            return None

        def public_key_auth_requested(self):
            offered.add("publickey")
            return None

    # No host-key check here, on purpose: this is the outside probe of a server the scanner
    # may never have seen, and it trusts nothing from it. No key, agent or password is
    # offered (client_keys=[], agent_path=None, the callbacks answer None), so only the
    # list of methods the server offers comes back. mailtui's own logins (the transport)
    # always verify host keys.
    try:
        conn, _ = await asyncio.wait_for(
            asyncssh.create_connection(
                _Client, ip, port, username="mailtui-probe", known_hosts=None, client_keys=[], agent_path=None,
                password=None, local_addr=local_addr_for(ctx.options.source, ip), config=None,
                preferred_auth="publickey,keyboard-interactive,password", login_timeout=ctx.options.io_timeout,
            ),
            ctx.options.io_timeout + ctx.options.connect_timeout,
        )
        conn.close()
    except asyncssh.PermissionDenied:
        pass
    except asyncio.TimeoutError:
        raise Blocked("the SSH login exchange did not finish in time") from None
    except (asyncssh.Error, OSError) as exc:
        raise Blocked(f"the SSH server ended the exchange: {exc}") from None
    return offered


async def probe_ssh(ctx, ip: str, port: int) -> list[Finding]:
    target = ctx.target(port, ip)
    out: list[Finding] = []
    async with ctx.semaphore(ip):
        t = ctx.transcript(f"SSH {target}")
        channel = await ctx.connect(ip, port, t)
        try:
            ident, algs = await read_kexinit(ctx, channel)
        finally:
            await channel.close()
    parsed = parse_ssh_ident(ident)
    d = parse_disclosure(ident)
    if parsed.comments:
        out.append(BANNER.finding(Status.WARN, f"{ident} (reveals {d.describe()})", target=target,
                                  title="SSH version string includes the OS patch level"))
    else:
        out.append(BANNER.finding(Status.INFO, ident, target=target))
    weak_hk, weak_kex = judge_algorithms(algs)
    hk = ", ".join(algs.get("server_host_key_algorithms", ()))
    if weak_hk or weak_kex:
        parts = [f"{a}: {WEAK_HOST_KEYS[a]}" for a in weak_hk] + [f"{a}: {WEAK_KEX[a]}" for a in weak_kex]
        out.append(HOSTKEYS.finding(Status.WARN, "; ".join(parts), target=target, title="Weak SSH algorithms offered"))
    else:
        out.append(HOSTKEYS.finding(Status.PASS, f"host keys: {hk}", target=target))
    async with ctx.semaphore(ip):
        t.note("asking which login methods are offered (RFC 4252 'none' request)")
        methods = await offered_auth_methods(ctx, ip, port)
    t.note(f"methods offered: {', '.join(sorted(methods)) or 'none'}")
    weak = sorted(methods & {"password", "keyboard-interactive"})
    if weak:
        out.append(PASSWORD.finding(Status.WARN, f"offered: {', '.join(sorted(methods))}", target=target,
                                    title="SSH offers password login"))
    else:
        out.append(PASSWORD.finding(Status.PASS, f"offered: {', '.join(sorted(methods)) or 'none'}", target=target))
    return out


@register("ssh", "SSH", "version string, host key/kex algorithms, password login offered")
async def run(ctx) -> list[Finding]:
    async def guarded(port: int) -> list[Finding]:
        target = ctx.target(port)
        try:
            return await probe_ssh(ctx, ctx.primary, port)
        except ConnectFailed as exc:
            if exc.refused:
                return []
            return [SSH_BLOCKED.finding(Status.ERROR, exc.reason, target=target)]
        except (Blocked, ProtocolViolation) as exc:
            return [SSH_BLOCKED.finding(Status.ERROR, exc.reason, target=target)]

    results = await asyncio.gather(*(guarded(p) for p in ctx.options.ssh_ports))
    return [f for r in results for f in r]


__all__ = ["parse_kexinit", "parse_ssh_ident"]
