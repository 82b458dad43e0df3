"""Automatic fixes: what each one changes, as exact edits (one registry, keyed by fix id).

A fix builds a :class:`FixSpec` from the facts: ``postconf -e``/``-X`` settings, ``postconf
-P`` master.cf overrides and whole-file writes (a Dovecot drop-in under ``conf.d/``, an
sshd drop-in, a Postfix lookup table). :mod:`mailtui.core.checks.engine` turns a spec
into a plan with a diff and applies it with the safety protocol. Fix ids equal the id of
the rule they repair (a fix may repair more than one rule).

Dovecot: settings go to ``conf.d/99-mailtui-<fix>.conf`` (read last: later values win).
When ``dovecot.conf`` has no ``!include conf.d/*.conf`` (self-contained, like the lab's)
the plan also appends ``!include_try conf.d/99-mailtui-*.conf`` to it, shown in the diff.

sshd keeps the *first* value it reads: a drop-in only works when the main config includes
the drop-in directory before setting the same keyword. Otherwise the plan inserts the
settings at the top of the main config instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from mailtui.core.checks.gather import CheckFacts, SshdInstance
from mailtui.core.checks.rules import (
    _proto_floor,
    _submission_services,
    _wrapper,
    postfix_cipher_params,
    postfix_weakened_cipherlists,
    tokens,
)
from mailtui.core.tlsclass import STRICT_CIPHER_LIST, STRICT_EXCLUDE


class FixError(ValueError):
    """The fix cannot be planned on this server (with a reason a person can act on)."""


class Service(StrEnum):
    POSTFIX = "postfix"
    DOVECOT = "dovecot"
    SSHD = "sshd"


#: Values a fix may write (constants of this module or names read from the config).
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@\-{}=,$>!+*\[\] ]*$")
_SAFE_NAME = re.compile(r"^[a-z0-9_]+$")


def _check_value(name: str, value: str) -> None:
    if not _SAFE_NAME.match(name):
        raise FixError(f"refusing a parameter name with unusual characters: {name!r}")
    if not _SAFE_VALUE.match(value) or "\n" in value:
        raise FixError(f"refusing a value with unusual characters for {name}: {value!r}")


@dataclass(frozen=True)
class PostconfSet:
    """``postconf -e name=value`` (or ``postconf -X name`` when value is None)."""

    name: str
    value: str | None

    def __post_init__(self) -> None:
        _check_value(self.name, self.value or "")


@dataclass(frozen=True)
class MasterSet:
    """``postconf -P service/type/name=value`` (a ``-o`` override in master.cf)."""

    service: str  # "submission/inet"
    name: str
    value: str

    def __post_init__(self) -> None:
        _check_value(self.name, self.value)
        if not re.fullmatch(r"[A-Za-z0-9_.:\-\[\]]+/(inet|unix|unix-dgram|fifo|pass)", self.service):
            raise FixError(f"not a master.cf service: {self.service!r}")
        if " " in self.value:
            raise FixError(f"a master.cf -o value may not contain spaces: {self.value!r}")


@dataclass(frozen=True)
class FileWrite:
    """Replace (or create) a whole file; ``content=None`` deletes it (used by undo)."""

    path: str
    content: bytes | None
    mode: int = 0o644


Edit = PostconfSet | MasterSet | FileWrite


@dataclass(frozen=True)
class FixSpec:
    edits: tuple[Edit, ...]
    services: tuple[Service, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fix:
    """One automatic fix: the rules it repairs and how to build its edits."""

    id: str
    title: str
    rules: tuple[str, ...]
    build: Callable[[CheckFacts, dict[str, bytes | None], str | None], FixSpec] = field(repr=False)
    #: Which files :func:`plan_fix` must read first ("dovecot.conf", "sshd_config").
    reads: tuple[str, ...] = ()

    @property
    def cuts_ssh(self) -> bool:
        return "sshd_config" in self.reads


FIXES: dict[str, Fix] = {}


def fix(id: str, title: str, rules: tuple[str, ...] | None = None, reads: tuple[str, ...] = ()):
    def register(build):
        if id in FIXES:
            raise ValueError(f"duplicate fix {id}")
        FIXES[id] = Fix(id, title, rules or (id,), build, reads)
        return build
    return register


# ----------------------------------------------------------------- Postfix helpers
def _need_postfix(facts: CheckFacts):
    if facts.postfix is None:
        raise FixError("Postfix was not found on this server")
    return facts.postfix


def _postfix(*edits: Edit, warnings: tuple[str, ...] = ()) -> FixSpec:
    if not edits:
        raise FixError("nothing to change: the setting is already as the fix would make it")
    return FixSpec(tuple(edits), (Service.POSTFIX,), warnings)


def _main(facts: CheckFacts, **values: str) -> list[PostconfSet]:
    pf = _need_postfix(facts)
    return [PostconfSet(k, v) for k, v in values.items() if pf.get(k) != v or k not in pf.main]


def _service_fixes(facts: CheckFacts, name: str, value: str, services) -> list[MasterSet]:
    return [MasterSet(s.key, name, value) for s in services if s.overrides.get(name) is not None
            and s.overrides.get(name) != value]


@fix("smtp.open_relay", "Relay only for trusted networks and logged-in users")
def _open_relay(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    old = pf.get("smtpd_relay_restrictions")
    new = "permit_mynetworks permit_sasl_authenticated reject_unauth_destination"
    removed = [t for t in tokens(old) if t.startswith("check_") or tokens(old)[max(0, tokens(old).index(t) - 1)].startswith("check_")]
    warn = (f"drops {' '.join(removed)} from smtpd_relay_restrictions: clients it allowed must log in "
            "(submission) to send mail out",) if removed else ()
    edits = _main(facts, smtpd_relay_restrictions=new)
    edits += _service_fixes(facts, "smtpd_relay_restrictions", new,
                            [s for s in pf.smtpd_services if s.port == 25])
    return _postfix(*edits, warnings=warn)


@fix("smtp.mynetworks", "Trust only loopback (mynetworks)")
def _mynetworks(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    return _postfix(*_main(facts, mynetworks="127.0.0.0/8 [::1]/128"), warnings=(
        f"mynetworks was {pf.effective('mynetworks')}: hosts in it that send mail through this server "
        "must log in on submission afterwards",))


@fix("smtp.vrfy", "Disable VRFY")
def _vrfy(facts, files, user) -> FixSpec:
    return _postfix(*_main(facts, disable_vrfy_command="yes"))


@fix("smtp.banner", "Neutral SMTP banner")
def _banner(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    value = "$myhostname ESMTP"
    return _postfix(*_main(facts, smtpd_banner=value), *_service_fixes(facts, "smtpd_banner", value, pf.smtpd_services))


@fix("smtp.helo_required", "Require HELO/EHLO")
def _helo(facts, files, user) -> FixSpec:
    return _postfix(*_main(facts, smtpd_helo_required="yes"))


@fix("smtp.connection_limits", "Per-client connection rate limit")
def _conn_limits(facts, files, user) -> FixSpec:
    return _postfix(*_main(facts, smtpd_client_connection_rate_limit="60"), warnings=(
        "one client address may open at most 60 connections per minute (mynetworks are exempt)",))


def _own_domains(facts: CheckFacts) -> list[str]:
    pf = _need_postfix(facts)
    domains = []
    for name in ("mydestination", "virtual_mailbox_domains", "virtual_alias_domains", "relay_domains"):
        for tok in tokens(pf.effective(name)):
            if re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", tok) and tok not in ("localhost.localdomain",) \
                    and not tok.startswith("localhost"):
                domains.append(tok.lower())
    return list(dict.fromkeys(domains))


OWN_DOMAINS_TABLE = "mailtui-own-domains"
SENDER_LOGIN_TABLE = "mailtui-sender-login"
SASL_ACCESS_TABLE = "mailtui-sasl-access"


def _table_path(facts: CheckFacts, name: str) -> str:
    return posixpath.join(_need_postfix(facts).get("config_directory", "/etc/postfix") or "/etc/postfix", name)


@fix("smtp.own_domain_spoofing", "Refuse unauthenticated mail that claims your own domains")
def _spoofing(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    domains = _own_domains(facts)
    if not domains:
        raise FixError("no own domain found in mydestination/virtual_mailbox_domains (maps are not read)")
    path = _table_path(facts, OWN_DOMAINS_TABLE)
    table = "# mailtui: mail from these domains must come with a login (submission) or from mynetworks\n" + "".join(
        f"{d} REJECT Mail from {d} must be sent with a login (submission, port 587)\n" for d in domains)
    existing = [t for t in tokens(pf.get("smtpd_sender_restrictions"))
                if t not in ("permit_mynetworks", "permit_sasl_authenticated")]
    value = " ".join(["permit_mynetworks", "permit_sasl_authenticated", "check_sender_access", f"texthash:{path}",
                      *existing])
    return FixSpec((FileWrite(path, table.encode()), PostconfSet("smtpd_sender_restrictions", value)),
                   (Service.POSTFIX,), (f"rejects mail on port 25 from {', '.join(domains)} unless the client "
                                        "logged in or is in mynetworks; forwarding services that keep your "
                                        "users' addresses as sender will be refused",))


@fix("smtp.compromise_ready", "A check_sasl_access table on submission (to hold one login)")
def _compromise(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    path = _table_path(facts, SASL_ACCESS_TABLE)
    table = ("# mailtui: one login per line to stop it sending, e.g.\n"
             "# alice@example.org HOLD    (then: postfix reload; release later with postsuper -H)\n")
    edits: list[Edit] = [FileWrite(path, table.encode())]
    for svc in _submission_services(pf):
        current = tokens(pf.effective("smtpd_relay_restrictions", svc))
        if "check_sasl_access" in current:
            continue
        value = ",".join(["check_sasl_access", f"texthash:{path}", *current])
        edits.append(MasterSet(svc.key, "smtpd_relay_restrictions", value))
    if len(edits) == 1:
        raise FixError("every submission service already has check_sasl_access")
    return FixSpec(tuple(edits), (Service.POSTFIX,))


@fix("submission.tls_required", "Require TLS on submission (587)")
def _sub_tls(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    return _postfix(*[MasterSet(s.key, "smtpd_tls_security_level", "encrypt") for s in _submission_services(pf)
                      if not _wrapper(pf, s) and pf.effective("smtpd_tls_security_level", s) != "encrypt"])


@fix("submission.auth_required", "Require a login on submission")
def _sub_auth(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    edits = []
    for s in _submission_services(pf):
        if pf.effective("smtpd_sasl_auth_enable", s) != "yes":
            edits.append(MasterSet(s.key, "smtpd_sasl_auth_enable", "yes"))
        edits.append(MasterSet(s.key, "smtpd_client_restrictions", "permit_sasl_authenticated,reject"))
    return _postfix(*edits)


@fix("submission.sender_login_mismatch", "Logged-in users send only as themselves")
def _sender_login(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    edits: list[Edit] = []
    warnings = []
    if not pf.get("smtpd_sender_login_maps"):
        domains = _own_domains(facts)
        if not domains:
            raise FixError("no own domain found to build smtpd_sender_login_maps from")
        path = _table_path(facts, SENDER_LOGIN_TABLE)
        alt = "|".join(re.escape(d) for d in domains)
        table = ("# mailtui: an address of these domains belongs to the login of the same name\n"
                 f"/^(.+@({alt}))$/ ${{1}}\n")
        edits += [FileWrite(path, table.encode()), PostconfSet("smtpd_sender_login_maps", f"regexp:{path}")]
        warnings.append("assumes users log in with their full address (alice@example.org), as virtual-mailbox "
                        "setups do; with system-user logins write smtpd_sender_login_maps yourself")
    for s in _submission_services(pf):
        current = tokens(pf.effective("smtpd_sender_restrictions", s))
        if "reject_sender_login_mismatch" not in current:
            edits.append(MasterSet(s.key, "smtpd_sender_restrictions",
                                   ",".join(["reject_sender_login_mismatch", *current])))
    return FixSpec(tuple(edits), (Service.POSTFIX,), tuple(warnings))


@fix("smtp.auth_after_tls", "Offer AUTH only after STARTTLS")
def _auth_tls(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    return _postfix(*_main(facts, smtpd_tls_auth_only="yes"),
                    *_service_fixes(facts, "smtpd_tls_auth_only", "yes", pf.smtpd_services))


@fix("tls.smtp_offered", "Offer STARTTLS on port 25")
def _smtp_tls(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    if not (pf.get("smtpd_tls_cert_file") or pf.get("smtpd_tls_chain_files")):
        raise FixError("no certificate configured (smtpd_tls_cert_file): get one first (certbot)")
    return _postfix(*_main(facts, smtpd_tls_security_level="may"),
                    *_service_fixes(facts, "smtpd_tls_security_level", "may",
                                    [s for s in pf.smtpd_services if s.port == 25]))


def tls12_floor(version: str | None) -> str:
    """"TLS 1.2 or newer" in the syntax the server's Postfix understands: ``>=TLSv1.2``
    exists since Postfix 3.6; older ones read it as an invalid list and switch TLS off
    (a warning in the log, not an error of ``postfix check``), so they get the exclusion
    list, which every version since 2.x understands. Unknown version: the exclusion list."""
    numbers = re.match(r"(\d+)\.(\d+)", version or "")
    if numbers and (int(numbers.group(1)), int(numbers.group(2))) >= (3, 6):
        return ">=TLSv1.2"
    return "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1"


@fix("tls.submission_protocols", "TLS 1.2 or newer for Postfix")
def _sub_protocols(facts, files, user) -> FixSpec:
    pf = _need_postfix(facts)
    floor = tls12_floor(pf.version)
    edits: list[Edit] = []
    for name in ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"):
        edits += _main(facts, **{name: floor})
        for s in _submission_services(pf):
            value = s.overrides.get(name)
            if value is not None and _proto_floor(value) not in ("TLSv1.2", "TLSv1.3"):
                edits.append(MasterSet(s.key, name, floor))
    return _postfix(*edits, warnings=("port 25 also requires TLS 1.2 for STARTTLS afterwards; very old "
                                      "senders fall back to plain text",))


@fix("tls.postfix_ciphers", "Postfix: good and sufficient cipher suites where passwords travel")
def _pf_ciphers(facts, files, user) -> FixSpec:
    """Remove weakening tls_*_cipherlist overrides, grades back to medium, and on 465/587
    exclude anonymous and phase-out suites (STRICT_EXCLUDE) with the parameter smtpd really
    applies there: main.cf smtpd_tls_mandatory_exclude_ciphers where TLS is enforced
    (encrypt, wrapper mode; port 25 at 'may' keeps its opportunistic breadth), else an
    ``-o smtpd_tls_exclude_ciphers`` override on that service. Items already there are kept."""
    pf = _need_postfix(facts)
    edits: list[Edit] = [PostconfSet(n, None) for n in postfix_weakened_cipherlists(pf)]
    for n in ("smtpd_tls_ciphers", "smtpd_tls_mandatory_ciphers"):
        if pf.get(n) in ("export", "low", "null"):
            edits.append(PostconfSet(n, "medium"))
    main_needed: list[str] = []
    for svc in _submission_services(pf):
        _, param = postfix_cipher_params(pf, svc)
        have = tokens(pf.value(param, svc))
        missing = [t for t in STRICT_EXCLUDE if t not in have]
        if not missing:
            continue
        if param == "smtpd_tls_mandatory_exclude_ciphers" and param not in svc.overrides:
            main_needed += [t for t in missing if t not in main_needed]
        else:
            edits.append(MasterSet(svc.key, param, ",".join([*have, *missing])))
    if main_needed:
        have = tokens(pf.get("smtpd_tls_mandatory_exclude_ciphers"))
        edits += _main(facts, smtpd_tls_mandatory_exclude_ciphers=", ".join([*have, *main_needed]))
    return _postfix(*edits)


# ----------------------------------------------------------------- Dovecot helpers
DOVECOT_INCLUDE = "!include_try conf.d/99-mailtui-*.conf"


def dovecot_includes_dropins(conf_text: str) -> bool:
    """Whether dovecot.conf already reads conf.d/*.conf (or our own pattern)."""
    return re.search(r"^\s*!include(_try)?\s+(\S*/)?conf\.d/(\*|99-mailtui-\*)\.conf\s*$", conf_text, re.M) is not None


def _dovecot(facts: CheckFacts, files: dict[str, bytes | None], fix_id: str, settings: dict[str, str],
             warnings: tuple[str, ...] = ()) -> FixSpec:
    dc = facts.dovecot
    if dc is None:
        raise FixError("Dovecot was not found on this server (or doveconf needs root)")
    for k, v in settings.items():
        _check_value(k, v)
    conf = dc.config_path or "/etc/dovecot/dovecot.conf"
    path = posixpath.join(posixpath.dirname(conf), "conf.d", f"99-mailtui-{fix_id}.conf")
    body = f"# mailtui fix {fix_id} (undo: mailtui fix --undo, or delete this file and doveadm reload)\n"
    body += "".join(f"{k} = {v}\n" for k, v in settings.items())
    edits: list[Edit] = [FileWrite(path, body.encode())]
    main = files.get(conf)
    if main is None:
        raise FixError(f"cannot read {conf}")
    notes = list(warnings)
    if not dovecot_includes_dropins(main.decode("utf-8", "surrogateescape")):
        text = main if main.endswith(b"\n") else main + b"\n"
        edits.append(FileWrite(conf, text + b"\n# mailtui: its fixes are drop-ins, read last\n"
                               + DOVECOT_INCLUDE.encode() + b"\n"))
        notes.append(f"{conf} does not read conf.d/*.conf: mailtui appends '{DOVECOT_INCLUDE}' to it")
    return FixSpec(tuple(edits), (Service.DOVECOT,), tuple(notes))


def _dc_name(facts: CheckFacts, *names: str) -> str:
    dc = facts.dovecot
    found = dc.first(*names) if dc else None
    return found[0] if found else names[0]


@fix("tls.dovecot_protocols", "TLS 1.2 or newer for IMAP/POP3", reads=("dovecot.conf",))
def _dc_protocols(facts, files, user) -> FixSpec:
    return _dovecot(facts, files, "tls.dovecot_protocols",
                    {_dc_name(facts, "ssl_min_protocol", "ssl_server_min_protocol"): "TLSv1.2"})


#: Good and sufficient suites only (Mozilla intermediate; Dovecot's own default still has
#: DHE with ARIA/CAMELLIA, phase-out by the scan's table).
DOVECOT_CIPHERS = STRICT_CIPHER_LIST


@fix("tls.dovecot_ciphers", "Dovecot: good and sufficient cipher suites only", reads=("dovecot.conf",))
def _dc_ciphers(facts, files, user) -> FixSpec:
    return _dovecot(facts, files, "tls.dovecot_ciphers",
                    {_dc_name(facts, "ssl_cipher_list", "ssl_server_cipher_list"): DOVECOT_CIPHERS})


@fix("imap.ssl_required", "Require TLS in Dovecot", rules=("imap.ssl_required", "imap.plaintext_listeners"),
     reads=("dovecot.conf",))
def _dc_ssl(facts, files, user) -> FixSpec:
    return _dovecot(facts, files, "imap.ssl_required", {"ssl": "required"},
                    ("mail programs set to plain IMAP/POP3 without STARTTLS can no longer log in",))


@fix("imap.plaintext_auth", "No password login without TLS", reads=("dovecot.conf",))
def _dc_plain(facts, files, user) -> FixSpec:
    if facts.dovecot is not None and "auth_allow_cleartext" in facts.dovecot.settings:
        return _dovecot(facts, files, "imap.plaintext_auth", {"auth_allow_cleartext": "no"})
    return _dovecot(facts, files, "imap.plaintext_auth", {"disable_plaintext_auth": "yes"})


@fix("imap.login_greeting", "Neutral IMAP/POP3 greeting", reads=("dovecot.conf",))
def _dc_greeting(facts, files, user) -> FixSpec:
    return _dovecot(facts, files, "imap.login_greeting", {"login_greeting": "Mail server ready."})


# -------------------------------------------------------------------- sshd helpers
def sshd_dropin_dir(config: str, text: str, keywords: tuple[str, ...]) -> str | None:
    """The directory of an ``Include DIR/*.conf`` that comes before any line setting one of
    ``keywords`` (sshd keeps the first value it reads); None when there is none."""
    base = posixpath.dirname(config)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.lower() == "match":
            return None
        if word.lower() in keywords:
            return None
        if word.lower() == "include":
            for pattern in rest.split():
                if pattern.endswith("/*.conf"):
                    directory = pattern[: -len("/*.conf")]
                    return directory if directory.startswith("/") else posixpath.join(base, directory)
    return None


def _sshd(facts: CheckFacts, files: dict[str, bytes | None], fix_id: str, settings: dict[str, str],
          warnings: tuple[str, ...] = ()) -> FixSpec:
    inst: SshdInstance | None = facts.own_sshd
    if inst is None:
        raise FixError("no running sshd found (seeing sshd's process needs root)")
    for k, v in settings.items():
        if not re.fullmatch(r"[A-Za-z]+", k) or not re.fullmatch(r"[A-Za-z0-9-]+", v):
            raise FixError(f"refusing sshd setting {k} {v}")
    main = files.get(inst.config)
    if main is None:
        raise FixError(f"cannot read {inst.config}")
    text = main.decode("utf-8", "surrogateescape")
    block = f"# mailtui fix {fix_id}\n" + "".join(f"{k} {v}\n" for k, v in settings.items())
    directory = sshd_dropin_dir(inst.config, text, tuple(k.lower() for k in settings))
    notes = list(warnings)
    for k in settings:  # sshd -T without -C never shows these; a global drop-in cannot change them
        for match, where in inst.match_settings(k):
            notes.append(f"{where.file}:{where.line} Match {match.criteria_text} sets {where.keyword} {where.value}: "
                         "this fix sets the global value only and does not change that Match block; edit it by hand")
    if directory:
        edit = FileWrite(posixpath.join(directory, f"00-mailtui-{fix_id}.conf"), block.encode())
    else:
        lines = text.splitlines(keepends=True)
        head = 0
        while head < len(lines) and (lines[head].startswith("#") or not lines[head].strip()):
            head += 1
        edit = FileWrite(inst.config, "".join(lines[:head]).encode() + block.encode() + b"\n"
                         + "".join(lines[head:]).encode("utf-8", "surrogateescape"))
        notes.append(f"{inst.config} has no Include of a drop-in directory ahead of these settings: "
                     "mailtui inserts them at its top (sshd uses the first value it reads)")
    notes.append("a timed revert is armed on the server; it is cancelled only after a fresh SSH login works")
    return FixSpec((edit,), (Service.SSHD,), tuple(notes))


@fix("ssh.password_auth", "SSH: keys only, no passwords", reads=("sshd_config",))
def _ssh_pw(facts, files, user) -> FixSpec:
    return _sshd(facts, files, "ssh.password_auth",
                 {"PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no"},
                 ("make sure your own key works first: after this, passwords no longer log anyone in",))


@fix("ssh.root_login", "SSH: no root password login", reads=("sshd_config",))
def _ssh_root(facts, files, user) -> FixSpec:
    # logged in as root ourselves: keep key logins for root, or we would lock ourselves out
    value = "prohibit-password" if user == "root" else "no"
    return _sshd(facts, files, "ssh.root_login", {"PermitRootLogin": value})


@fix("ssh.max_auth_tries", "SSH: at most 3 attempts per connection", reads=("sshd_config",))
def _ssh_tries(facts, files, user) -> FixSpec:
    return _sshd(facts, files, "ssh.max_auth_tries", {"MaxAuthTries": "3"},
                 ("clients that offer many keys from an agent may need IdentitiesOnly yes",))


def files_to_read(fix_: Fix, facts: CheckFacts) -> list[str]:
    paths = []
    if "dovecot.conf" in fix_.reads:
        paths.append((facts.dovecot.config_path if facts.dovecot else None) or "/etc/dovecot/dovecot.conf")
    if "sshd_config" in fix_.reads and facts.own_sshd is not None:
        paths.append(facts.own_sshd.config)
    return paths



