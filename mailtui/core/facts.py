"""What the server is: OS, mail software and versions, listeners, logs, firewall, fail2ban.

Collection costs two round trips: one shell script run as the login user and, where
root is needed (process names of listeners, firewall rules, fail2ban's jails, Dovecot's
log paths), one run through sudo. Each script prints its probes as sections between
marker lines carrying a random nonce, so command output cannot fake a section.

Parsing is pure (``parse_*`` functions, unit-tested on real outputs). All section text
goes through :func:`mailtui.core.text.sanitize` before any parser sees it, so every
string inside :class:`ServerFacts` is safe to display. Anything that cannot be found out
is ``unknown`` with the reason, never an exception.
"""

from __future__ import annotations

import datetime as _dt
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from mailtui.core.text import sanitize
from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import SudoPasswordRequired, SudoUnavailable, TransportError


class Status(StrEnum):
    FOUND = "found"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class SudoState(StrEnum):
    ROOT = "root"            # we are root, sudo not needed
    NOPASSWD = "nopasswd"    # sudo -n works
    PASSWORD = "password"    # sudo wants a password
    DENIED = "denied"        # this user may not sudo
    ABSENT = "absent"        # sudo not installed
    OFF = "off"              # switched off in the profile


@dataclass(frozen=True)
class Software:
    """A piece of server software (MTA, IMAP server, control panel)."""

    status: Status
    name: str | None = None
    version: str | None = None
    #: How we know (the command or file that told us).
    evidence: str | None = None
    #: Whether a process of it is listening; None when unknown.
    running: bool | None = None
    #: Why it is absent or unknown.
    reason: str | None = None


@dataclass(frozen=True)
class OsInfo:
    status: Status
    name: str | None = None
    id: str | None = None
    version: str | None = None
    kernel: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    #: Names of the processes holding the socket (Postfix: ``smtpd`` and ``master``).
    processes: tuple[str, ...] = ()
    #: The first process's pid.
    pid: int | None = None

    @property
    def process(self) -> str | None:
        """The processes as one display string, or None when unknown (needs root)."""
        return ", ".join(self.processes) if self.processes else None


@dataclass(frozen=True)
class Listeners:
    status: Status
    items: tuple[Listener, ...] = ()
    #: Set when the list is incomplete (e.g. process names need root).
    reason: str | None = None


@dataclass(frozen=True)
class LogSource:
    kind: str          # "file" or "journald"
    name: str          # path or unit name
    category: str      # "mail", "imap", "auth", "fail2ban", "system"
    access: str        # "direct", "sudo" or "none"
    size: int | None = None


@dataclass(frozen=True)
class LogSources:
    status: Status
    items: tuple[LogSource, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class FirewallFrontend:
    name: str                 # "nftables", "iptables", "ufw", "firewalld"
    active: bool | None       # None: installed, state unknown
    detail: str


@dataclass(frozen=True)
class Firewall:
    status: Status
    frontends: tuple[FirewallFrontend, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Fail2ban:
    status: Status
    running: bool | None = None
    jails: tuple[str, ...] = ()
    version: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Privileges:
    user: str | None
    uid: int | None
    sudo: SudoState
    detail: str


@dataclass(frozen=True)
class ServerFacts:
    target: str
    collected_at: str
    seconds: float
    privileges: Privileges
    os: OsInfo
    hostname: str | None
    fqdn: str | None
    mta: Software
    imap: Software
    panel: Software
    listeners: Listeners
    log_sources: LogSources
    firewall: Firewall
    fail2ban: Fail2ban
    #: Probes that failed outright, with the reason (for the curious; never fatal).
    problems: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        """A plain dict for ``mailtui facts --json`` (enums become their values)."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


# --------------------------------------------------------------------------- probes
# Static shell snippets: no remote or user value is ever interpolated into them.
_USER_PROBES: tuple[tuple[str, str], ...] = (
    ("id", "id -un; id -u"),
    ("uname", "uname -srm"),
    ("os-release", "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"),
    ("hostname", "hostname; (timeout 3 hostname -f || hostname) 2>/dev/null"),
    ("postfix", "command -v postconf >/dev/null && postconf -h mail_version myhostname && "
                "postconf -h maillog_file 2>/dev/null"),
    ("exim", "for b in exim4 exim; do if command -v $b >/dev/null; then $b -bV 2>&1 | head -n 1; break; fi; done"),
    ("opensmtpd", "command -v smtpctl >/dev/null && smtpd -h 2>&1 | head -n 3"),
    ("sendmail", "test -f /etc/mail/sendmail.cf && sendmail -d0.1 -bt </dev/null 2>&1 | head -n 1"),
    ("qmail", "test -d /var/qmail/bin && ls /var/qmail/bin/qmail-send && cat /var/qmail/control/me"),
    ("dovecot", "command -v dovecot >/dev/null && dovecot --version"),
    ("courier", "for b in courierlogger imapd; do command -v $b; done"),
    ("packages",
     "if command -v dpkg-query >/dev/null; then dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' "
     "postfix exim4-daemon-light exim4-daemon-heavy opensmtpd sendmail-bin dovecot-core courier-imap "
     "fail2ban nftables iptables ufw firewalld 2>/dev/null | sed -n 's/^ii *//p'; "
     "elif command -v rpm >/dev/null; then rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' postfix exim opensmtpd "
     "sendmail dovecot courier-imap psa-qmail fail2ban nftables iptables firewalld 2>/dev/null | grep -v 'not installed'; fi"),
    ("panel",
     "for f in /usr/local/psa/version /usr/local/cpanel/version /opt/mailcow-dockerized/mailcow.conf "
     "/etc/mailinabox.conf /usr/local/directadmin/directadmin /usr/local/ispconfig/server; do "
     "if [ -e \"$f\" ]; then echo \"present $f\"; fi; done; "
     "head -n 1 /usr/local/psa/version 2>/dev/null | sed 's/^/psa /'; "
     "head -n 1 /usr/local/cpanel/version 2>/dev/null | sed 's/^/cpanel /'"),
    ("systemd", "test -d /run/systemd/system && echo booted; "
                "for d in /var/log/journal /run/log/journal; do test -d $d && echo journal $d; done; true"),
    ("units", "test -d /run/systemd/system && systemctl list-unit-files --no-legend --no-pager --type=service "
              "'postfix*' 'dovecot*' 'ssh*' 'exim*' 'fail2ban*' 'opensmtpd*' 'courier*' 'qmail*' 'sendmail*' "
              "2>/dev/null; true"),
    ("tools", "for t in nft iptables ufw firewall-cmd fail2ban-client journalctl ss; do "
              "command -v $t >/dev/null && echo $t; done; true"),
    ("listeners", "ss -ltnH 2>/dev/null || ss -ltn"),
    ("logfiles", "__LOGFILES__"),
    ("sudo", "if ! command -v sudo >/dev/null; then echo absent; elif sudo -n true 2>/tmp/.mailtui-sudo.$$; "
             "then echo nopasswd; else cat /tmp/.mailtui-sudo.$$; fi; rm -f /tmp/.mailtui-sudo.$$"),
)

_ROOT_PROBES: tuple[tuple[str, str], ...] = (
    ("listeners-root", "ss -ltnpH 2>/dev/null || ss -ltnp"),
    ("nft", "command -v nft >/dev/null && nft list ruleset | head -c 262144"),
    ("iptables", "command -v iptables >/dev/null && iptables -V && iptables -S | head -c 262144 && "
                 "echo '# ip6tables' && ip6tables -S 2>&1 | head -c 262144"),
    ("ufw", "command -v ufw >/dev/null && ufw status | head -n 1"),
    ("firewalld", "command -v firewall-cmd >/dev/null && firewall-cmd --state"),
    ("fail2ban", "command -v fail2ban-client >/dev/null && { fail2ban-client -V; fail2ban-client status; }"),
    ("doveconf", "command -v doveconf >/dev/null && doveconf log_path info_log_path"),
    ("logfiles-root", "__LOGFILES__"),
)

#: Log files that may exist, with their category.
LOG_FILE_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/var/log/mail.log", "mail"),
    ("/var/log/maillog", "mail"),
    ("/var/log/mail.info", "mail"),
    ("/var/log/mail.err", "mail"),
    ("/var/log/postfix.log", "mail"),
    ("/usr/local/psa/var/log/maillog", "mail"),
    ("/var/log/exim4/mainlog", "mail"),
    ("/var/log/exim4/rejectlog", "mail"),
    ("/var/log/exim/main.log", "mail"),
    ("/var/log/exim/mainlog", "mail"),
    ("/var/log/qmail/current", "mail"),
    ("/var/log/qmail/smtpd/current", "mail"),
    ("/var/log/dovecot.log", "imap"),
    ("/var/log/dovecot-info.log", "imap"),
    ("/var/log/dovecot/dovecot.log", "imap"),
    ("/var/log/auth.log", "auth"),
    ("/var/log/secure", "auth"),
    ("/var/log/fail2ban.log", "fail2ban"),
    ("/var/log/syslog", "system"),
    ("/var/log/messages", "system"),
)

_LOGFILES_SNIPPET = (
    "for f in " + " ".join(path for path, _ in LOG_FILE_CANDIDATES) + " \"$@\"; do "
    "if [ -f \"$f\" ]; then if [ -r \"$f\" ]; then r=readable; else r=unreadable; fi; "
    "echo \"$r $(stat -L -c %s -- \"$f\" 2>/dev/null || echo -) $f\"; fi; done"
)


def build_script(marker: str, probes: tuple[tuple[str, str], ...]) -> str:
    """One POSIX shell script running each probe between marker lines."""
    parts = ["M=$1; shift"]
    for name, snippet in probes:
        body = _LOGFILES_SNIPPET if snippet == "__LOGFILES__" else snippet
        parts.append(
            f"printf '%s begin {name}\\n' \"$M\"; {{ {body.strip()} ; }} </dev/null 2>&1; "
            f"printf '\\n%s end {name} %s\\n' \"$M\" \"$?\""
        )
    return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class Section:
    """A probe's output (sanitized) and exit status."""

    text: str
    status: int


def split_sections(output: str, marker: str) -> dict[str, Section]:
    """Cut a probe script's output into sections by the marker lines."""
    sections: dict[str, Section] = {}
    current: str | None = None
    lines: list[str] = []
    begin, end = f"{marker} begin ", f"{marker} end "
    for line in output.split("\n"):
        if line.startswith(begin):
            current, lines = line[len(begin):].strip(), []
        elif line.startswith(end) and current is not None:
            name_status = line[len(end):].split()
            status = int(name_status[1]) if len(name_status) > 1 and name_status[1].isdigit() else 1
            text = "\n".join(lines)
            if text.endswith("\n"):
                text = text[:-1]
            sections[current] = Section(sanitize(text, multiline=True), status)
            current = None
        elif current is not None:
            lines.append(line)
    return sections


# -------------------------------------------------------------------------- parsers
def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of os-release(5), quotes removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z0-9_]+", key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def parse_os(os_release: Section | None, uname: Section | None) -> OsInfo:
    kernel = uname.text.strip() if uname and uname.status == 0 and uname.text.strip() else None
    if os_release is None or os_release.status != 0:
        return OsInfo(Status.UNKNOWN, kernel=kernel, reason="no /etc/os-release on the server")
    values = parse_os_release(os_release.text)
    name = values.get("PRETTY_NAME") or values.get("NAME")
    if not name:
        return OsInfo(Status.UNKNOWN, kernel=kernel, reason="/etc/os-release names no system")
    return OsInfo(Status.FOUND, name=name, id=values.get("ID"), version=values.get("VERSION_ID"), kernel=kernel)


def parse_ss(text: str) -> list[Listener]:
    """Listening TCP sockets from ``ss -ltn[p][H]`` output (header optional)."""
    listeners: list[Listener] = []
    seen: set[tuple[str, int, tuple[str, ...]]] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] in ("State", "Netid"):
            continue
        # Columns: State Recv-Q Send-Q Local:Port Peer:Port [Process]
        if fields[0] != "LISTEN" and fields[0] != "tcp":
            continue
        local = fields[3] if fields[0] == "LISTEN" else fields[4]
        address, _, port_text = local.rpartition(":")
        if not port_text.isdigit():
            continue
        address = address.strip("[]")
        if "%" in address:
            address = address.split("%", 1)[0]
        users = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        processes = tuple(dict.fromkeys(name for name, _ in users))
        pid = int(users[0][1]) if users else None
        key = (address, int(port_text), processes)
        if key in seen:
            continue
        seen.add(key)
        listeners.append(Listener(address or "*", int(port_text), processes, pid))
    listeners.sort(key=lambda item: (item.port, item.address))
    return listeners


_POSTFIX_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?\S*$")


def parse_postfix(section: Section | None) -> Software | None:
    """``postconf -h mail_version myhostname`` (+ maillog_file) -> Postfix."""
    if section is None or not section.text.strip():
        return None
    lines = [line.strip() for line in section.text.splitlines() if line.strip()]
    if not lines or not _POSTFIX_VERSION.match(lines[0]):
        return None
    return Software(Status.FOUND, "Postfix", lines[0], evidence="postconf -h mail_version")


def postfix_maillog_file(section: Section | None) -> str | None:
    if section is None:
        return None
    lines = [line.strip() for line in section.text.splitlines()]
    if len(lines) >= 3 and lines[2].startswith("/") and not lines[2].startswith("/dev/"):
        return lines[2]
    return None


def postfix_hostname(section: Section | None) -> str | None:
    if section is None:
        return None
    lines = [line.strip() for line in section.text.splitlines()]
    return lines[1] if len(lines) >= 2 and lines[1] else None


def parse_exim(section: Section | None) -> Software | None:
    match = re.search(r"Exim version (\S+)", section.text) if section else None
    if not match:
        return None
    return Software(Status.FOUND, "Exim", match.group(1), evidence="exim -bV")


def parse_opensmtpd(section: Section | None) -> Software | None:
    if section is None or section.status != 0 and "OpenSMTPD" not in section.text:
        return None
    match = re.search(r"OpenSMTPD[ -](\S+)", section.text)
    if not match:
        return None
    return Software(Status.FOUND, "OpenSMTPD", match.group(1), evidence="smtpd -h")


def parse_sendmail(section: Section | None) -> Software | None:
    match = re.search(r"^Version (\S+)", section.text, re.M) if section else None
    if not match:
        return None
    return Software(Status.FOUND, "Sendmail", match.group(1), evidence="sendmail -d0.1")


def parse_qmail(section: Section | None, packages: dict[str, str]) -> Software | None:
    if section is None or section.status != 0 or "qmail-send" not in section.text:
        return None
    version = packages.get("psa-qmail") or packages.get("netqmail") or packages.get("qmail")
    return Software(Status.FOUND, "qmail", version, evidence="/var/qmail/bin/qmail-send")


def parse_dovecot(section: Section | None) -> Software | None:
    """``dovecot --version``: ``2.3.19.1 (9b53102964)`` or ``2.4.1-4 (7d8c0e5759)``."""
    if section is None or section.status != 0:
        return None
    match = re.match(r"\s*(\d+\.\d+[\w.\-]*)(?:\s+\((\w+)\))?", section.text)
    if not match:
        return None
    return Software(Status.FOUND, "Dovecot", match.group(1), evidence="dovecot --version")


def parse_courier(section: Section | None, packages: dict[str, str]) -> Software | None:
    if section is None or not section.text.strip():
        return None
    if "courierlogger" not in section.text and "courier-imap" not in packages:
        return None
    return Software(Status.FOUND, "Courier", packages.get("courier-imap"), evidence=section.text.splitlines()[0])


def parse_packages(section: Section | None) -> dict[str, str]:
    """``name version`` lines (dpkg-query or rpm -q) -> {name: version}."""
    packages: dict[str, str] = {}
    if section is None:
        return packages
    for line in section.text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            packages[fields[0]] = fields[1]
    return packages


_PANELS = {
    "/usr/local/psa/version": "Plesk",
    "/usr/local/cpanel/version": "cPanel",
    "/opt/mailcow-dockerized/mailcow.conf": "mailcow",
    "/etc/mailinabox.conf": "Mail-in-a-Box",
    "/usr/local/directadmin/directadmin": "DirectAdmin",
    "/usr/local/ispconfig/server": "ISPConfig",
}


def parse_panel(section: Section | None) -> Software:
    if section is None:
        return Software(Status.UNKNOWN, reason="the control panel probe did not run")
    present = [line.split(" ", 1)[1] for line in section.text.splitlines() if line.startswith("present ")]
    for path, name in _PANELS.items():
        if path in present:
            version = None
            prefix = {"Plesk": "psa ", "cPanel": "cpanel "}.get(name)
            if prefix:
                for line in section.text.splitlines():
                    if line.startswith(prefix) and line[len(prefix):].strip():
                        version = line[len(prefix):].split()[0]
            return Software(Status.FOUND, name, version, evidence=path)
    return Software(Status.ABSENT, reason="no Plesk, cPanel, mailcow, Mail-in-a-Box, DirectAdmin or ISPConfig found")


def parse_fail2ban(section: Section | None, installed: bool) -> Fail2ban:
    """``fail2ban-client version`` + ``fail2ban-client status``."""
    if not installed:
        return Fail2ban(Status.ABSENT, running=False, reason="fail2ban-client is not installed")
    if section is None:
        return Fail2ban(Status.UNKNOWN, reason="needs root to ask fail2ban")
    text = section.text
    version_match = re.search(r"^v?(\d+\.\d+[\w.]*)\s*$", text, re.M)
    version = version_match.group(1) if version_match else None
    jails_match = re.search(r"Jail list:\s*(.*)$", text, re.M)
    if jails_match:
        jails = tuple(j.strip() for j in jails_match.group(1).split(",") if j.strip())
        return Fail2ban(Status.FOUND, running=True, jails=jails, version=version)
    if re.search(r"(Failed to access socket|Is fail2ban running|Unable to contact server)", text, re.I):
        return Fail2ban(Status.FOUND, running=False, version=version, reason="installed but not running")
    return Fail2ban(Status.UNKNOWN, version=version, reason=_first_line(text) or "no answer from fail2ban-client")


def parse_firewall(sections: dict[str, Section], tools: set[str], root: bool) -> Firewall:
    frontends: list[FirewallFrontend] = []
    if not root:
        names = [name for tool, name in (("nft", "nftables"), ("iptables", "iptables"), ("ufw", "ufw"),
                                           ("firewall-cmd", "firewalld")) if tool in tools]
        return Firewall(
            Status.UNKNOWN,
            tuple(FirewallFrontend(n, None, "installed; reading rules needs root") for n in names),
            reason="reading firewall rules needs root",
        )
    ufw = sections.get("ufw")
    if ufw is not None and ufw.text.strip():
        active = "Status: active" in ufw.text
        frontends.append(FirewallFrontend("ufw", active, _first_line(ufw.text)))
    firewalld = sections.get("firewalld")
    if firewalld is not None and firewalld.text.strip():
        running = firewalld.text.strip().splitlines()[-1].strip() == "running"
        frontends.append(FirewallFrontend("firewalld", running, "running" if running else "not running"))
    nft = sections.get("nft")
    if nft is not None and "nft" in tools:
        if nft.status == 0:
            tables, rules = count_nft_rules(nft.text)
            frontends.append(FirewallFrontend("nftables", rules > 0, f"{tables} tables, {rules} rules"))
        else:
            frontends.append(FirewallFrontend("nftables", None, _first_line(nft.text) or "cannot list the ruleset"))
    ipt = sections.get("iptables")
    if ipt is not None and "iptables" in tools:
        if ipt.status == 0:
            rules = count_iptables_rules(ipt.text)
            backend = "nf_tables" if "(nf_tables)" in ipt.text else "legacy" if "(legacy)" in ipt.text else None
            detail = f"{rules} rules" + (f" ({backend} backend)" if backend else "")
            frontends.append(FirewallFrontend("iptables", rules > 0, detail))
        else:
            frontends.append(FirewallFrontend("iptables", None, _first_line(ipt.text) or "cannot list rules"))
    if not frontends:
        return Firewall(Status.ABSENT, reason="no nftables, iptables, ufw or firewalld found")
    return Firewall(Status.FOUND, tuple(frontends))


_NFT_STRUCTURE = re.compile(r"^(table|chain|set|map|flowtable|type|policy|elements|flags|hook|devices|counter$|})")


def count_nft_rules(ruleset: str) -> tuple[int, int]:
    """(tables, rules) in ``nft list ruleset`` output."""
    tables = rules = 0
    for raw in ruleset.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("table "):
            tables += 1
        elif not _NFT_STRUCTURE.match(line):
            rules += 1
    return tables, rules


def count_iptables_rules(text: str) -> int:
    """Rules (``-A`` lines) in ``iptables -S`` / ``ip6tables -S`` output."""
    return sum(1 for line in text.splitlines() if line.startswith("-A "))


def parse_logfiles(section: Section | None) -> dict[str, tuple[bool, int | None]]:
    """``readable|unreadable SIZE PATH`` lines -> {path: (readable, size)}."""
    files: dict[str, tuple[bool, int | None]] = {}
    if section is None:
        return files
    for line in section.text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] in ("readable", "unreadable") and parts[2].startswith("/"):
            size = int(parts[1]) if parts[1].isdigit() else None
            files[parts[2]] = (parts[0] == "readable", size)
    return files


def parse_doveconf_paths(section: Section | None) -> list[str]:
    """``log_path = /var/log/dovecot.log`` lines -> the file paths."""
    paths: list[str] = []
    if section is None:
        return paths
    for line in section.text.splitlines():
        name, sep, value = line.partition("=")
        value = value.strip()
        if sep and name.strip() in ("log_path", "info_log_path") and value.startswith("/") and not value.startswith("/dev/"):
            paths.append(value)
    return paths


_UNIT_CATEGORIES = (
    ("postfix", "mail"), ("exim", "mail"), ("opensmtpd", "mail"), ("sendmail", "mail"), ("qmail", "mail"),
    ("dovecot", "imap"), ("courier", "imap"), ("ssh", "auth"), ("fail2ban", "fail2ban"),
)


def parse_units(section: Section | None) -> list[tuple[str, str]]:
    """``systemctl list-unit-files`` lines -> [(unit, category)] for enabled mail/auth units."""
    units: list[tuple[str, str]] = []
    if section is None:
        return units
    for line in section.text.splitlines():
        fields = line.split()
        if len(fields) < 2 or not fields[0].endswith(".service"):
            continue
        unit, state = fields[0], fields[1]
        if state in ("masked", "disabled") or unit.endswith("@.service") and not unit.startswith("postfix@"):
            continue
        for prefix, category in _UNIT_CATEGORIES:
            if unit.startswith(prefix):
                units.append((unit, category))
                break
    return units


#: Probes whose non-zero exit is itself the answer (parsed above), not a failed probe.
_FAILURE_IS_AN_ANSWER = frozenset({"sudo", "fail2ban", "ufw", "firewalld", "opensmtpd", "sendmail", "qmail", "exim"})


def _last_line(text: str) -> str:
    """Error messages usually come last."""
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def parse_sudo(section: Section | None, is_root: bool, allowed: bool) -> SudoState:
    if is_root:
        return SudoState.ROOT
    if not allowed:
        return SudoState.OFF
    text = section.text if section else ""
    if text.strip() == "nopasswd":
        return SudoState.NOPASSWD
    if text.strip() == "absent":
        return SudoState.ABSENT
    if "password is required" in text or "terminal is required" in text or "askpass" in text:
        return SudoState.PASSWORD
    return SudoState.DENIED


_SUDO_DETAIL = {
    SudoState.ROOT: "running as root",
    SudoState.NOPASSWD: "sudo works without a password",
    SudoState.PASSWORD: "sudo asks for a password: root-only facts are unknown until you give it",
    SudoState.DENIED: "this user may not use sudo: root-only facts are unknown",
    SudoState.ABSENT: "sudo is not installed: root-only facts are unknown",
    SudoState.OFF: "sudo is switched off for this server: root-only facts are unknown",
}

_MTA_PROCESSES = {"master": "Postfix", "exim4": "Exim", "exim": "Exim", "smtpd": "OpenSMTPD",
                  "sendmail": "Sendmail", "tcpserver": "qmail", "qmail-smtpd": "qmail"}
_IMAP_PROCESSES = {"dovecot": "Dovecot", "couriertcpd": "Courier", "imapd": "Courier"}


def _serving(listener: Listener, processes: dict[str, str]) -> str | None:
    """Which product a listener belongs to, judged by its process names."""
    if "master" in listener.processes:
        return "Postfix"  # Postfix's smtpd shares the socket with master; not OpenSMTPD
    return next((processes[p] for p in listener.processes if p in processes), None)


def _pick(candidates: list[Software], listeners: list[Listener], ports: set[int],
          processes: dict[str, str], what: str) -> Software:
    serving = {_serving(l, processes) for l in listeners if l.port in ports and l.processes}
    serving.discard(None)
    known_processes = any(l.processes for l in listeners)
    if not candidates:
        return Software(Status.ABSENT, reason=f"no {what} found")
    ranked = sorted(candidates, key=lambda s: s.name not in serving)
    chosen = ranked[0]
    running = (chosen.name in serving) if known_processes else None
    others = [s.name for s in ranked[1:]]
    evidence = chosen.evidence
    if others:
        evidence = f"{evidence}; also installed: {', '.join(n for n in others if n)}"
    return Software(chosen.status, chosen.name, chosen.version, evidence, running)


def assemble_facts(
    target: str,
    user_sections: dict[str, Section],
    root_sections: dict[str, Section] | None,
    *,
    sudo_allowed: bool,
    root_problem: str | None = None,
    seconds: float = 0.0,
) -> ServerFacts:
    """Build ServerFacts from the sections of the two probe scripts (pure)."""
    sections = dict(user_sections)
    id_lines = sections.get("id", Section("", 1)).text.splitlines()
    user = id_lines[0].strip() if id_lines else None
    uid = int(id_lines[1]) if len(id_lines) > 1 and id_lines[1].strip().isdigit() else None
    is_root = uid == 0
    sudo = parse_sudo(sections.get("sudo"), is_root, sudo_allowed)
    detail = _SUDO_DETAIL[sudo] if not root_problem else f"{_SUDO_DETAIL[sudo]} ({root_problem})"
    if sudo == SudoState.PASSWORD and root_sections is not None:
        detail = "sudo asks for a password; using the one given for this session"
    privileges = Privileges(user, uid, sudo, detail)
    root = root_sections if root_sections is not None else {}
    have_root = root_sections is not None
    why_not_root = root_problem or _SUDO_DETAIL[sudo]

    host_lines = [line.strip() for line in sections.get("hostname", Section("", 1)).text.splitlines() if line.strip()]
    hostname = host_lines[0] if host_lines else None
    fqdn = host_lines[1] if len(host_lines) > 1 and "." in host_lines[1] else None
    postfix_section = sections.get("postfix")
    fqdn = fqdn or postfix_hostname(postfix_section)

    listeners_list = parse_ss(root["listeners-root"].text) if "listeners-root" in root else []
    listeners_reason = None
    if not listeners_list:
        listeners_list = parse_ss(sections.get("listeners", Section("", 1)).text)
        listeners_reason = f"process names need root ({why_not_root})" if listeners_list else None
    if listeners_list:
        listeners = Listeners(Status.FOUND, tuple(listeners_list), listeners_reason)
    else:
        listeners = Listeners(Status.UNKNOWN, reason="ss gave no answer (is iproute2 installed?)")

    packages = parse_packages(sections.get("packages"))
    mtas = [m for m in (
        parse_postfix(postfix_section), parse_exim(sections.get("exim")),
        parse_opensmtpd(sections.get("opensmtpd")), parse_sendmail(sections.get("sendmail")),
        parse_qmail(sections.get("qmail"), packages),
    ) if m is not None]
    imaps = [s for s in (parse_dovecot(sections.get("dovecot")), parse_courier(sections.get("courier"), packages))
             if s is not None]
    mta = _pick(mtas, listeners_list, {25, 465, 587}, _MTA_PROCESSES, "MTA (Postfix, Exim, OpenSMTPD, Sendmail, qmail)")
    imap = _pick(imaps, listeners_list, {143, 993, 110, 995}, _IMAP_PROCESSES, "IMAP/POP3 server (Dovecot, Courier)")

    tools = set(sections.get("tools", Section("", 1)).text.split())
    firewall = parse_firewall(root, tools, have_root)
    if not have_root and firewall.reason:
        firewall = Firewall(firewall.status, firewall.frontends, f"reading firewall rules needs root ({why_not_root})")
    if have_root or "fail2ban-client" not in tools:
        fail2ban = parse_fail2ban(root.get("fail2ban"), "fail2ban-client" in tools)
    else:
        fail2ban = Fail2ban(Status.UNKNOWN, reason=f"asking fail2ban for its jails needs root ({why_not_root})")

    log_sources = _log_sources(sections, root, have_root, postfix_section, why_not_root)
    problems = tuple(
        f"{name}: {_last_line(sec.text)}" for name, sec in {**sections, **root}.items()
        if sec.status not in (0, 1) and sec.text.strip() and name not in _FAILURE_IS_AN_ANSWER
    )
    return ServerFacts(
        target=target,
        collected_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=round(seconds, 3),
        privileges=privileges,
        os=parse_os(sections.get("os-release"), sections.get("uname")),
        hostname=hostname,
        fqdn=fqdn,
        mta=mta,
        imap=imap,
        panel=parse_panel(sections.get("panel")),
        listeners=listeners,
        log_sources=log_sources,
        firewall=firewall,
        fail2ban=fail2ban,
        problems=problems,
    )


def _log_sources(sections: dict[str, Section], root: dict[str, Section], have_root: bool,
                 postfix_section: Section | None, why_not_root: str) -> LogSources:
    categories = dict(LOG_FILE_CANDIDATES)
    maillog = postfix_maillog_file(postfix_section)
    if maillog:
        categories.setdefault(maillog, "mail")
    for path in parse_doveconf_paths(root.get("doveconf")):
        categories.setdefault(path, "imap")
    as_user = parse_logfiles(sections.get("logfiles"))
    as_root = parse_logfiles(root.get("logfiles-root"))
    items: list[LogSource] = []
    for path in sorted(set(as_user) | set(as_root), key=lambda p: (list(categories).index(p) if p in categories else 99, p)):
        readable, size = as_user.get(path, (False, None))
        root_readable, root_size = as_root.get(path, (False, None))
        access = "direct" if readable else "sudo" if root_readable else "none"
        items.append(LogSource("file", path, categories.get(path, "mail"), access, size if size is not None else root_size))
    systemd = sections.get("systemd", Section("", 1)).text
    if "booted" in systemd and "journal " in systemd:
        for unit, category in parse_units(sections.get("units")):
            access = "direct" if have_root else "sudo?"
            items.append(LogSource("journald", unit, category, access))
    if items:
        return LogSources(Status.FOUND, tuple(items))
    reason = "no mail, auth or Dovecot log files found and no journald"
    if not have_root:
        reason += f"; Dovecot's log_path is unknown ({why_not_root})"
    return LogSources(Status.ABSENT, reason=reason)


async def _run_script(transport: Transport, probes, marker: str, extra: list[str], *, sudo: bool) -> dict[str, Section]:
    script = build_script(marker, probes)
    result = await transport.run(["sh", "-c", script, "mailtui-facts", marker, *extra], sudo=sudo, timeout=60)
    return split_sections(result.stdout, marker)


async def collect_facts(transport: Transport) -> ServerFacts:
    """Find out what the server is. Never raises for missing tools or permissions.

    TransportError is raised only when the server cannot be reached at all.
    """
    started = time.monotonic()
    marker = "@@mailtui-" + secrets.token_hex(8)
    user_sections = await _run_script(transport, _USER_PROBES, marker, [], sudo=False)
    postfix_log = postfix_maillog_file(user_sections.get("postfix"))
    extra = [postfix_log] if postfix_log else []
    if extra:
        # maillog_file is not in the fixed candidate list: look at it as well.
        more = await _run_script(transport, (("logfiles", "__LOGFILES__"),), marker, extra, sudo=False)
        user_sections.update(more)
    root_sections: dict[str, Section] | None = None
    root_problem: str | None = None
    id_lines = user_sections.get("id", Section("", 1)).text.splitlines()
    is_root = len(id_lines) > 1 and id_lines[1].strip() == "0"
    sudo_state = parse_sudo(user_sections.get("sudo"), is_root, transport.sudo_allowed)
    if sudo_state in (SudoState.ROOT, SudoState.NOPASSWD) or (
        sudo_state == SudoState.PASSWORD and transport.has_sudo_password
    ):
        try:
            root_sections = await _run_script(transport, _ROOT_PROBES, marker, extra, sudo=True)
        except (SudoPasswordRequired, SudoUnavailable) as exc:
            root_problem = exc.message
        except TransportError as exc:
            if not exc.retryable:
                root_problem = exc.message
            else:
                raise
    return assemble_facts(
        transport.label, user_sections, root_sections, sudo_allowed=transport.sudo_allowed,
        root_problem=root_problem, seconds=time.monotonic() - started,
    )
