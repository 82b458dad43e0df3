"""Read what the checklist grades: the configuration the server really runs.

One shell script, run through sudo when it may be (``sshd -T``, ``doveconf``, firewall
rules and fail2ban need root), prints every probe between marker lines (the same
nonce-marker format as :mod:`mailtui.core.facts`), so the whole read costs one round
trip, plus a tiny unprivileged one in parallel for ``$SSH_CONNECTION`` (sudo resets the
environment) to know which sshd serves our own login.

Parsing is pure (``parse_*``): unit-tested on real ``postconf``/``doveconf``/``sshd -T``
outputs captured from the lab. Section text is sanitized by ``split_sections`` before any
parser sees it. Nothing here raises for a missing tool: a fact that cannot be read is
``None`` and ``CheckFacts.problems`` says why.

Private keys never leave the server: the script prints only certificate blocks and the
SHA-256 of each private key's *public* half (``openssl pkey -pubout``), for TLS and for
every DKIM signing key (:class:`DkimSigningKey`, compared by the scan with the DNS key).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import fnmatch
import hashlib
import posixpath
import re
import secrets
import shlex
import time
from dataclasses import dataclass, field

from mailtui.core.facts import Listener, Section, build_script, parse_ss, split_sections
from mailtui.core.text import sanitize
from mailtui.core.tlsclass import OpenSslCipher, parse_openssl_ciphers
from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import SudoPasswordRequired, SudoUnavailable, TransportError

# --------------------------------------------------------------------------- probes
# Static shell text only: values read on the server stay in shell variables, quoted.
_CERT_FN = r"""certblock() {
  [ -n "$2" ] || return 0
  printf '### cert %s %s\n' "$1" "$2"
  if [ -r "$2" ]; then sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p' "$2" | head -c 65536
  else echo "### unreadable"; fi
  k=${3:-$2}
  if [ -r "$k" ]; then
    h=$(openssl pkey -in "$k" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
    printf '### keyhash %s %s\n' "$h" "$k"
  else printf '### nokey %s\n' "$k"; fi
}"""

# OpenDKIM: the KeyTable (``name domain:selector:keyfile``) or the single-key form
# (Domain/Selector/KeyFile); rspamd: dkim_signing with a literal selector and path.
# Only hashes leave the server, never a key.
_DKIM_KEYS_FN = r"""dkimkey() {
  case $4 in
    /*) if [ -r "$4" ]; then
          h=$(openssl pkey -in "$4" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
          printf '### dkimkey %s %s %s %s %s\n' "$1" "${2:-*}" "${3:-?}" "$h" "$4"
        else printf '### dkimkey %s %s %s - %s\n' "$1" "${2:-*}" "${3:-?}" "$4"; fi;;
    *) printf '### dkimkey %s %s %s - inline\n' "$1" "${2:-*}" "${3:-?}";;
  esac
}
optval() { sed -n "s/^[[:space:]]*$1[[:space:]]\{1,\}//p" "$2" 2>/dev/null | head -n 1 | sed 's/[[:space:]]*$//'; }
c=/etc/opendkim.conf
if [ -r "$c" ]; then
  kt=$(optval KeyTable "$c"); kt=${kt#refile:}; kt=${kt#file:}
  if [ -n "$kt" ] && [ -r "$kt" ]; then
    grep -vE '^[[:space:]]*(#|$)' "$kt" | head -n 200 | while read -r name spec rest; do
      d=${spec%%:*}; r=${spec#*:}; s=${r%%:*}; k=${r#*:}
      dkimkey opendkim "$d" "$s" "$k"
    done
  fi
  kf=$(optval KeyFile "$c")
  [ -n "$kf" ] && dkimkey opendkim "$(optval Domain "$c")" "$(optval Selector "$c")" "$kf"
fi
for r in /etc/rspamd/local.d/dkim_signing.conf /etc/rspamd/override.d/dkim_signing.conf; do
  [ -r "$r" ] || continue
  s=$(sed -n 's/^[[:space:]]*selector[[:space:]]*=[[:space:]]*"\{0,1\}\([^";]*\).*/\1/p' "$r" | head -n 1)
  k=$(sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\{0,1\}\([^";]*\).*/\1/p' "$r" | head -n 1)
  case $k in *'$'*|'') ;; *) dkimkey rspamd '*' "$s" "$k";; esac
done
true"""

# Every cipher string Postfix or Dovecot may use, expanded by the server's own OpenSSL
# (``openssl ciphers -v``): each tls_*_cipherlist (also -o overrides), each exclusion item
# of smtpd_tls_(mandatory_)exclude_ciphers (main.cf and -o), aNULL, and Dovecot's list.
# The rules compute a service's effective set from these (set arithmetic, as Postfix's
# ``LIST:!ITEM...``) and grade it with the scan's table (mailtui.core.tlsclass).
_CIPHER_LISTS = r"""cipherlist() {
  [ -n "$1" ] || return 0
  printf '### ciphers %s\n' "$1"
  openssl ciphers -v "$1" 2>&1 | head -n 400
}
if command -v openssl >/dev/null; then
  if command -v postconf >/dev/null; then
    for g in high medium low export null; do cipherlist "$(postconf -xh tls_${g}_cipherlist 2>/dev/null)"; done
    postconf -P 2>/dev/null | sed -n 's|^[^/]*/[^/]*/tls_[a-z]*_cipherlist *= *||p' | sort -u | \
      while IFS= read -r v; do cipherlist "$v"; done
    { postconf -xh smtpd_tls_exclude_ciphers smtpd_tls_mandatory_exclude_ciphers 2>/dev/null
      postconf -P 2>/dev/null | sed -n 's|^[^/]*/[^/]*/smtpd_tls_[a-z_]*exclude_ciphers *= *||p'
      echo aNULL; } | tr ', ' '\n\n' | grep -v '^$' | sort -u | while IFS= read -r t; do cipherlist "$t"; done
  fi
  if command -v doveconf >/dev/null; then
    cipherlist "$(doveconf -h ssl_cipher_list 2>/dev/null || doveconf -h ssl_server_cipher_list 2>/dev/null)"
  fi
else echo "### no-openssl"; fi
true"""

# The text of an sshd's config and of every file it includes (``Include`` with globs,
# relative paths under /etc/ssh, nested up to 8 deep, at most 64 files, 64 KiB each), so
# the rules can see ``Match`` blocks that ``sshd -T`` without ``-C`` never evaluates. Each
# line is printed behind a ``|`` so no file line can pose as a marker.
_SSHD_CONF_FN = r"""sshdconf() {
  case "$SSHD_SEEN" in *"|$1|"*) return 0;; esac
  SSHD_SEEN="$SSHD_SEEN|$1|"; SSHD_N=$((SSHD_N+1))
  if [ "$SSHD_N" -gt 64 ]; then printf '### sshdlimit %s\n' "$1"; return 0; fi
  if [ ! -f "$1" ] || [ ! -r "$1" ]; then printf '### sshdmissing %s\n' "$1"; return 0; fi
  printf '### sshdfile %s\n' "$1"
  { head -c 65536 "$1"; echo; } | sed 's/^/|/'
  [ "$2" -lt 8 ] || return 0
  set -f
  pats=$(sed -n 's/^[[:space:]]*[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]=]\{1,\}//p' "$1" | sed 's/[[:space:]]#.*$//' | tr -d '"')
  for p in $pats; do
    case $p in '#'*) continue;; /*) ;; *) p=/etc/ssh/$p;; esac
    set +f
    for g in $p; do sshdconf "$g" $(($2+1)); done
    set -f
  done
  set +f
}"""

PROBES: dict[str, str] = {
    "os": "sed -n 's/^ID=//p;s/^ID_LIKE=//p' /etc/os-release 2>/dev/null; uname -r",
    "postconf-all": "command -v postconf >/dev/null && postconf 2>/dev/null",
    "postconf-n": "command -v postconf >/dev/null && postconf -n",
    "postconf-M": "command -v postconf >/dev/null && postconf -M",
    "postconf-P": "command -v postconf >/dev/null && postconf -P",
    "doveconf-n": "command -v doveconf >/dev/null && doveconf -n",
    "doveconf-a": "command -v doveconf >/dev/null && doveconf -a",
    "dovecot-key": "command -v doveconf >/dev/null && { doveconf -P -h ssl_key 2>/dev/null || "
                   "doveconf -P -h ssl_server_key_file 2>/dev/null; } | sed -n '1{s/^<//;/^\\//p;}'",
    "listeners": "ss -ltnpH 2>/dev/null || ss -ltn",
    "sshd": _SSHD_CONF_FN + "\n"
            "for pid in $(ss -ltnpH 2>/dev/null | grep -o '\"sshd\",pid=[0-9]*' | sed 's/.*pid=//' | sort -u); do "
            "cfg=$(tr '\\0' ' ' </proc/$pid/cmdline | awk '{for(i=1;i<NF;i++) if($i==\"-f\"){print $(i+1); exit}}'); "
            "cfg=${cfg:-/etc/ssh/sshd_config}; printf '### sshd %s %s\\n' \"$pid\" \"$cfg\"; "
            "sshd -T -f \"$cfg\" 2>&1 | head -c 65536; "
            "{ SSHD_SEEN=; SSHD_N=0; sshdconf \"$cfg\" 0; } | head -c 524288; done; true",
    "nft": "command -v nft >/dev/null && nft list ruleset 2>&1 | head -c 262144",
    "iptables": "command -v iptables >/dev/null && iptables -S 2>&1 | head -c 131072",
    "ufw": "command -v ufw >/dev/null && ufw status 2>&1 | head -n 200",
    "fail2ban": "command -v fail2ban-client >/dev/null && fail2ban-client status",
    "fail2ban-ports": "command -v fail2ban-client >/dev/null && fail2ban-client -d 2>/dev/null | "
                      "grep \"^\\['multi-set', '[^']*', 'action'\" | "
                      "grep -o \"^\\['multi-set', '[^']*'\\|\\['port', '[^']*'\\]\"",
    "certs": _CERT_FN + "\n"
             "if command -v postconf >/dev/null; then "
             "certblock postfix \"$(postconf -h smtpd_tls_cert_file)\" \"$(postconf -h smtpd_tls_key_file)\"; "
             "for f in $(postconf -h smtpd_tls_chain_files | tr ',' ' '); do certblock postfix-chain \"$f\"; done; fi; "
             "if command -v doveconf >/dev/null; then "
             "c=$(doveconf -h ssl_cert 2>/dev/null || doveconf -h ssl_server_cert_file 2>/dev/null); "
             "k=$(doveconf -P -h ssl_key 2>/dev/null || doveconf -P -h ssl_server_key_file 2>/dev/null); "
             "case $k in '<'*) ;; /*) ;; *) k=;; esac; "
             "certblock dovecot \"${c#<}\" \"${k#<}\"; fi",
    "certbot": "if command -v certbot >/dev/null || [ -d /etc/letsencrypt/renewal ]; then echo certbot; "
               "grep -hE '^(renew_hook|deploy_hook|post_hook)' /etc/letsencrypt/renewal/*.conf 2>/dev/null; "
               "for f in /etc/letsencrypt/renewal-hooks/deploy/* /etc/letsencrypt/renewal-hooks/post/*; do "
               "[ -f \"$f\" ] && { printf '### hook %s\\n' \"$f\"; grep -Eo 'postfix|dovecot|systemctl [a-z-]+ [a-z@.-]+' "
               "\"$f\" | sort -u; }; done; fi; true",
    "updates": "if command -v apt-get >/dev/null; then echo apt; apt-get -s -o Debug::NoLocking=1 upgrade 2>/dev/null "
               "| grep '^Inst' | head -n 2000; elif command -v dnf >/dev/null; then echo dnf; "
               "dnf -C -q updateinfo list --security 2>/dev/null | head -n 2000; fi",
    "unattended": "if command -v dpkg-query >/dev/null; then dpkg-query -W -f='pkg ${Status}\\n' unattended-upgrades "
                  "2>/dev/null; apt-config dump 2>/dev/null | grep -E '^APT::Periodic::(Unattended-Upgrade|Update-Package-Lists) '; "
                  "fi; for u in dnf-automatic.timer dnf-automatic-install.timer; do "
                  "[ -e /etc/systemd/system/timers.target.wants/$u ] && echo \"enabled $u\"; done; true",
    "reboot": "if [ -f /var/run/reboot-required ]; then echo required; cat /var/run/reboot-required.pkgs 2>/dev/null "
              "| head -n 50; else echo no; fi",
    "disk": "for p in \"$(postconf -h queue_directory 2>/dev/null)\" \"$(postconf -h virtual_mailbox_base 2>/dev/null)\" "
            "/var/mail /var/vmail /home /; do [ -n \"$p\" ] && [ -d \"$p\" ] && df -Pk \"$p\" | tail -n 1 | "
            "sed \"s|^|$p |\"; done",
    "dkim": "for f in /etc/opendkim.conf /etc/opendkim/KeyTable /etc/opendkim/SigningTable /etc/opendkim/keytable "
            "/etc/opendkim/signingtable /etc/rspamd/local.d/dkim_signing.conf /etc/rspamd/override.d/dkim_signing.conf "
            "/etc/amavis/conf.d/50-user; do [ -e \"$f\" ] && echo \"present $f\"; done; "
            "grep -hiE '^[[:space:]]*(KeyTable|SigningTable|KeyFile|Selector|Domain|Socket)[[:space:]]' "
            "/etc/opendkim.conf 2>/dev/null | head -n 20; "
            "grep -hiE 'dkim_sign|domain|selector|path' /etc/rspamd/local.d/dkim_signing.conf 2>/dev/null | head -n 20; true",
    # per DKIM signing entry: domain, selector, key file and the SHA-256 of the key's public half
    "dkim-keys": _DKIM_KEYS_FN,
    # the access tables in the relay/recipient restrictions (an "OK" there can open a relay)
    "relay-maps": "command -v postconf >/dev/null && for m in $( { postconf -h smtpd_relay_restrictions "
                  "smtpd_recipient_restrictions; postconf -P | grep -E '/(smtpd_relay_restrictions|"
                  "smtpd_recipient_restrictions) *=' | cut -d= -f2-; } | tr ', ' '\\n\\n' | sort -u); do case $m in "
                  "hash:/*|texthash:/*|btree:/*|lmdb:/*|cdb:/*|regexp:/*|pcre:/*|cidr:/*) f=${m#*:}; "
                  "printf '### map %s\\n' \"$m\"; grep -vE '^[[:space:]]*(#|$)' \"$f\" 2>/dev/null | head -n 500;; "
                  "esac; done; true",
    "cipher-lists": _CIPHER_LISTS,
    "plesk": "if [ -e /usr/local/psa/version ]; then head -n 1 /usr/local/psa/version; fi; true",
}

#: Probes that only read the mail configuration (what a fix's verification needs).
CONFIG_PROBES = ("relay-maps", "postconf-all", "postconf-n", "postconf-M", "postconf-P", "doveconf-n", "doveconf-a",
                 "dovecot-key", "listeners", "sshd", "cipher-lists")


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class MasterService:
    """One master.cf entry (``postconf -M``) with its ``-o`` overrides (``postconf -P``)."""

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    overrides: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.type}"

    @property
    def is_smtpd(self) -> bool:
        return self.type == "inet" and self.command.split()[:1] == ["smtpd"]

    @property
    def port(self) -> int | None:
        """The TCP port the service listens on (name or ``host:port``)."""
        if self.type != "inet":
            return None
        name = self.name.rsplit(":", 1)[-1]
        if name.isdigit():
            return int(name)
        return _SERVICE_PORTS.get(name)


_SERVICE_PORTS = {"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465}


@dataclass(frozen=True)
class PostfixConfig:
    """``postconf`` (effective), ``postconf -n`` (set explicitly), master.cf services."""

    main: dict[str, str]
    explicit: dict[str, str]
    services: tuple[MasterService, ...]
    version: str | None = None

    def get(self, name: str, default: str = "") -> str:
        return self.main.get(name, default)

    def expand(self, value: str, service: MasterService | None = None, depth: int = 0) -> str:
        """``$name`` / ``${name}`` references replaced by their values (as Postfix does)."""
        if depth > 8 or "$" not in value:
            return value

        def repl(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            if not name or ":" in name or "?" in name:
                return match.group(0)
            return self.expand(self.value(name, service), service, depth + 1)

        return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", repl, value)

    def value(self, name: str, service: MasterService | None = None) -> str:
        """The value ``name`` has in ``service`` (its ``-o`` override, else main.cf)."""
        if service is not None and name in service.overrides:
            return service.overrides[name]
        return self.main.get(name, "")

    def effective(self, name: str, service: MasterService | None = None) -> str:
        return self.expand(self.value(name, service), service)

    def service(self, name: str, type_: str = "inet") -> MasterService | None:
        return next((s for s in self.services if s.name == name and s.type == type_), None)

    @property
    def smtpd_services(self) -> tuple[MasterService, ...]:
        return tuple(s for s in self.services if s.is_smtpd)


@dataclass(frozen=True)
class DovecotConfig:
    """``doveconf -a`` (effective top-level settings) and ``doveconf -n`` (explicit)."""

    settings: dict[str, str]
    explicit: dict[str, str]
    version: str | None
    config_path: str | None
    key_path: str | None = None

    @property
    def major_minor(self) -> tuple[int, int]:
        match = re.match(r"(\d+)\.(\d+)", self.version or "")
        return (int(match.group(1)), int(match.group(2))) if match else (2, 3)

    def first(self, *names: str) -> tuple[str, str] | None:
        """The first of ``names`` (2.3 and 2.4 spellings) that this version knows."""
        for name in names:
            if name in self.settings:
                return name, self.settings[name]
        return None


@dataclass(frozen=True)
class SshdInstance:
    """One running sshd: its listener pid, config file, ports and ``sshd -T`` settings."""

    pid: int
    config: str
    settings: dict[str, tuple[str, ...]]
    ports: tuple[int, ...] = ()
    error: str | None = None

    #: The ``Match`` blocks of its config text (``sshd -T`` without ``-C`` ignores them).
    matches: tuple[SshdMatch, ...] = ()
    #: The config files read for it, main config first (empty when they could not be read).
    files: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        values = self.settings.get(name.lower())
        return values[0] if values else default

    def match_settings(self, keyword: str) -> list[tuple[SshdMatch, SshdSetting]]:
        """Every Match block that sets ``keyword`` (first value of each block), in file order."""
        key = keyword.lower()
        return [(m, m.settings[key]) for m in self.matches if key in m.settings]


@dataclass(frozen=True)
class SshdSetting:
    """One keyword line of an sshd config file: its first value and where it is."""

    keyword: str   # as written
    value: str
    file: str
    line: int


_MATCH_ANY = {"*", "0.0.0.0/0", "::/0"}


@dataclass(frozen=True)
class SshdMatch:
    """A ``Match`` block: its criteria and the settings in it (first value wins, as sshd)."""

    file: str
    line: int
    criteria: tuple[str, ...]
    settings: dict[str, SshdSetting] = field(default_factory=dict, hash=False, compare=False)

    @property
    def criteria_text(self) -> str:
        return " ".join(self.criteria)

    @property
    def everyone(self) -> bool:
        """True when the criteria match (nearly) every connection: ``Match all``, or only
        ``Address``/``User``/``Host``/``Group``/``LocalAddress`` with a catch-all value."""
        words = list(self.criteria)
        if [w.lower() for w in words] == ["all"]:
            return True
        if not words or len(words) % 2:
            return False
        for crit, value in zip(words[::2], words[1::2]):
            if crit.lower() not in ("address", "user", "host", "group", "localaddress"):
                return False
            items = value.split(",")
            if not any(i in _MATCH_ANY for i in items) or any(i.startswith("!") for i in items):
                return False
        return True


@dataclass(frozen=True)
class Fail2banState:
    running: bool
    jails: tuple[str, ...]
    #: Jail name -> ports its ban action blocks (names or numbers, as configured).
    ports: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class FirewallState:
    nft: str | None
    iptables: str | None
    ufw: str | None


@dataclass(frozen=True)
class CertFile:
    """A certificate file a service uses, parsed (see :func:`parse_cert_file`)."""

    service: str                 # "postfix", "postfix-chain", "dovecot"
    path: str
    readable: bool
    certs: tuple[CertInfo, ...]
    #: SHA-256 of the DER public key derived from the private key, None if unreadable.
    key_hash: str | None
    key_path: str | None


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    names: tuple[str, ...]
    pubkey_hash: str
    self_signed: bool
    is_ca: bool


@dataclass(frozen=True)
class DkimSigningKey:
    """One DKIM signing entry of the server's signer (OpenDKIM KeyTable, rspamd dkim_signing).

    ``domain`` is ``*`` when the entry signs for any domain (rspamd's single path, OpenDKIM
    ``%``); ``pubkey_sha256`` is the SHA-256 of the DER SubjectPublicKeyInfo derived from the
    private key on the server (None: unreadable, or the key is inline in the table).
    """

    signer: str            # "opendkim", "rspamd"
    domain: str
    selector: str
    key_path: str
    pubkey_sha256: str | None

    def signs_for(self, domain: str) -> bool:
        d = domain.rstrip(".").lower()
        own = self.domain.rstrip(".").lower()
        return own in ("*", "%") or own == d or (own.startswith("*.") and d.endswith(own[1:]))


@dataclass(frozen=True)
class Updates:
    manager: str | None           # "apt", "dnf", None
    pending: int
    security: int
    sample: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disk:
    path: str
    mount: str
    size_kb: int
    avail_kb: int

    @property
    def free_ratio(self) -> float:
        return self.avail_kb / self.size_kb if self.size_kb else 1.0


@dataclass(frozen=True)
class CheckFacts:
    """Everything the rules read. ``None`` means unknown; ``problems`` says why."""

    target: str
    collected_at: str
    postfix: PostfixConfig | None = None
    dovecot: DovecotConfig | None = None
    sshd: tuple[SshdInstance, ...] = ()
    #: The server port of our own SSH connection (to find the sshd that serves us).
    ssh_port: int | None = None
    listeners: tuple[Listener, ...] | None = None
    firewall: FirewallState | None = None
    fail2ban: Fail2banState | None = None
    certs: tuple[CertFile, ...] = ()
    certbot: tuple[str, ...] | None = None
    updates: Updates | None = None
    unattended: tuple[str, ...] | None = None
    reboot: tuple[str, ...] | None = None
    disks: tuple[Disk, ...] = ()
    dkim: tuple[str, ...] = ()
    #: The signer's signing entries (selector and public-key hash per domain).
    dkim_keys: tuple[DkimSigningKey, ...] = ()
    plesk: str | None = None
    #: Access tables named in relay restrictions: "type:path" -> their non-comment lines.
    relay_maps: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    #: Cipher strings the server's OpenSSL expanded (``openssl ciphers -v``): string -> suites.
    #: None: not read (no probe, or no openssl on the server).
    cipher_lists: dict[str, tuple[OpenSslCipher, ...]] | None = field(default=None, hash=False, compare=False)
    os_ids: tuple[str, ...] = ()
    problems: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    seconds: float = 0.0

    def dkim_selector_for(self, domain: str) -> str | None:
        """The selector the server signs ``domain``'s mail with (first matching entry), if known."""
        return next((k.selector for k in self.dkim_keys if k.signs_for(domain) and k.selector not in ("", "?")), None)

    def dkim_key_pairs(self, domain: str) -> tuple[tuple[str, str], ...]:
        """``(selector, pubkey_sha256)`` of every readable signing key for ``domain``:
        what :class:`mailtui.core.scan.ScanOptions` ``dkim_keys`` takes."""
        return tuple(dict.fromkeys((k.selector, k.pubkey_sha256) for k in self.dkim_keys
                                   if k.signs_for(domain) and k.pubkey_sha256 and k.selector not in ("", "?")))

    @property
    def own_sshd(self) -> SshdInstance | None:
        """The sshd that serves our connection (else the only one, else the one on 22)."""
        if not self.sshd:
            return None
        if self.ssh_port is not None:
            for inst in self.sshd:
                if self.ssh_port in inst.ports:
                    return inst
        if len(self.sshd) == 1:
            return self.sshd[0]
        return next((i for i in self.sshd if 22 in i.ports), self.sshd[0])


# -------------------------------------------------------------------------- parsers
def parse_key_values(text: str) -> dict[str, str]:
    """``name = value`` lines (postconf, postconf -n, top level of doveconf)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in " \t#}" or "=" not in line or line.rstrip().endswith("{"):
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        if re.fullmatch(r"[A-Za-z0-9_]+", name):
            values[name] = value.strip()
    return values


def parse_master(text_m: str, text_p: str) -> tuple[MasterService, ...]:
    """``postconf -M`` entries with their ``-o`` overrides from ``postconf -P``."""
    overrides: dict[str, dict[str, str]] = {}
    for line in text_p.splitlines():
        head, sep, value = line.partition("=")
        parts = head.strip().split("/")
        if sep and len(parts) == 3:
            overrides.setdefault(f"{parts[0]}/{parts[1]}", {})[parts[2].strip()] = value.strip()
    services = []
    for line in text_m.splitlines():
        fields = line.split(None, 7)
        if len(fields) < 8 or line[0] in " \t#":
            continue
        name, type_, private, unpriv, chroot, wakeup, maxproc, command = fields
        # drop the -o options from the command; they are in the overrides
        command = re.sub(r"\s-o\s+\S+", "", " " + command).strip()
        services.append(MasterService(name, type_, private, unpriv, chroot, wakeup, maxproc, command,
                                      overrides.get(f"{name}/{type_}", {})))
    return tuple(services)


def parse_postfix(all_text: str | None, n_text: str, m_text: str, p_text: str) -> PostfixConfig:
    explicit = parse_key_values(n_text)
    main = dict(POSTFIX_DEFAULTS)
    main.update(parse_key_values(all_text) if all_text else explicit)
    if not all_text:
        main.update(explicit)
    return PostfixConfig(main, explicit, parse_master(m_text, p_text), main.get("mail_version") or None)


#: Postfix 3.x defaults for the parameters rules read, used only when the full
#: ``postconf`` output is missing (unit tests on ``postconf -n`` alone).
POSTFIX_DEFAULTS = {
    "disable_vrfy_command": "no",
    "smtpd_banner": "$myhostname ESMTP $mail_name",
    "smtpd_helo_required": "no",
    "smtpd_tls_auth_only": "no",
    "smtpd_tls_security_level": "",
    "smtpd_tls_protocols": ">=TLSv1",
    "smtpd_tls_mandatory_protocols": ">=TLSv1",
    "smtpd_tls_ciphers": "medium",
    "smtpd_tls_mandatory_ciphers": "medium",
    "smtpd_tls_wrappermode": "no",
    "smtpd_sasl_auth_enable": "no",
    "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
    "smtpd_recipient_restrictions": "",
    "smtpd_sender_restrictions": "",
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_login_maps": "",
    "smtpd_client_connection_rate_limit": "0",
    "smtpd_client_connection_count_limit": "50",
    "smtpd_client_message_rate_limit": "0",
    "smtpd_client_auth_rate_limit": "0",
    "message_size_limit": "10240000",
    "mynetworks_style": "host",
    "smtpd_milters": "",
    "non_smtpd_milters": "",
    "tls_medium_cipherlist": "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
    "tls_high_cipherlist": "aNULL:-aNULL:HIGH:@STRENGTH",
    "mail_name": "Postfix",
}


_DOVECOT_HEADER = re.compile(r"^# (\d+\.\d+[\w.\-]*)(?: \([0-9a-f]+\))?: (\S+)")


def parse_dovecot(a_text: str | None, n_text: str, key_path: str | None = None) -> DovecotConfig:
    """``doveconf -a`` / ``-n``; the first line of either names the version and file."""
    version = config_path = None
    for text in (n_text, a_text or ""):
        match = _DOVECOT_HEADER.match(text.splitlines()[0] if text.strip() else "")
        if match:
            version, config_path = match.group(1), match.group(2)
            break
    explicit = parse_key_values(n_text)
    settings = dict(DOVECOT_DEFAULTS_23 if not version or version.startswith("2.3") else {})
    settings.update(parse_key_values(a_text) if a_text else explicit)
    return DovecotConfig(settings, explicit, version, config_path, key_path or None)


#: Dovecot 2.3 defaults used when only ``doveconf -n`` is known (unit tests).
DOVECOT_DEFAULTS_23 = {
    "ssl": "yes",
    "ssl_min_protocol": "TLSv1.2",
    "disable_plaintext_auth": "yes",
    "auth_failure_delay": "2 secs",
    "login_greeting": "Dovecot ready.",
    "auth_mechanisms": "plain",
    "default_pass_scheme": "CRYPT",
    "ssl_cipher_list": "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH",
}


def parse_sshd_instances(text: str, listeners: tuple[Listener, ...] | None) -> tuple[SshdInstance, ...]:
    """Blocks of ``### sshd PID CONFIG`` followed by that instance's ``sshd -T``."""
    instances = []
    for block in re.split(r"^### sshd ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        pid_text, _, config = head.partition(" ")
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        body, _, conf = ("\n" + body).partition("\n### sshd")  # the config text follows sshd -T
        conf = "### sshd" + conf if conf else ""
        files = split_sshd_files(conf)
        config_path = sanitize(config.strip())
        matches = parse_sshd_matches(files, config_path) if config_path in files else ()
        settings: dict[str, list[str]] = {}
        for line in body.splitlines():
            key, _, value = line.strip().partition(" ")
            if key and re.fullmatch(r"[a-z0-9]+", key):
                settings.setdefault(key, []).append(value.strip())
        error = None if settings else (body.strip().splitlines()[-1] if body.strip() else "sshd -T printed nothing")
        ports = tuple(sorted({l.port for l in listeners or () if l.pid == pid}))
        if not ports:
            ports = tuple(sorted({int(p) for p in settings.get("port", []) if p.isdigit()}))
        instances.append(SshdInstance(pid, config.strip(), {k: tuple(v) for k, v in settings.items()}, ports, error,
                                      matches, tuple(files)))
    return tuple(instances)


_SSHD_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$")


def _sshd_words(text: str) -> list[str]:
    """The arguments of an sshd config line: quotes removed, a ``#`` word starts a comment."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quote: sshd rejects the file, read it loosely
        words = text.replace('"', " ").split()
    out = []
    for w in words:
        if w.startswith("#"):
            break
        out.append(w)
    return out


def split_sshd_files(text: str) -> dict[str, list[str]]:
    """``### sshdfile PATH`` blocks (each line behind a ``|``) -> PATH -> its lines."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("### sshdfile "):
            current = files.setdefault(sanitize(line[len("### sshdfile "):].strip()), [])
        elif line.startswith("### "):
            current = None
        elif current is not None and line.startswith("|"):
            current.append(line[1:])
    for lines in files.values():
        if lines and not lines[-1].strip():
            lines.pop()  # the newline the probe adds after each file
    return files


def _glob_match(pattern: str, path: str) -> bool:
    """sshd's glob(3): ``*``/``?``/``[..]`` never cross a ``/``."""
    return pattern.count("/") == path.count("/") and fnmatch.fnmatchcase(path, pattern)


def parse_sshd_matches(files: dict[str, list[str]], main: str, max_depth: int = 8) -> tuple[SshdMatch, ...]:
    """The Match blocks of ``main`` and everything it includes, walked in sshd's order.

    A Match block runs until the next Match or the end of its file; an Include inside a
    Match block puts the included file's lines (up to its own first Match) in that block.
    Keywords are case-insensitive; within a block the first value of a keyword wins."""
    blocks: list[SshdMatch] = []
    paths = list(files)

    def walk(path: str, enclosing: SshdMatch | None, depth: int, stack: tuple[str, ...]) -> None:
        current = enclosing
        for number, raw in enumerate(files.get(path, ()), 1):
            m = _SSHD_LINE.match(raw)
            if not m or raw.lstrip().startswith("#"):
                continue
            keyword, words = m.group(1), _sshd_words(m.group(2))
            key = keyword.lower()
            if key == "match":
                current = SshdMatch(path, number, tuple(words))
                blocks.append(current)
            elif key == "include":
                if depth >= max_depth:
                    continue
                for pattern in words:
                    pattern = pattern if pattern.startswith("/") else posixpath.join("/etc/ssh", pattern)
                    for inc in sorted(p for p in paths if _glob_match(pattern, p)):
                        if inc not in stack:
                            walk(inc, current, depth + 1, stack + (inc,))
            elif current is not None and words:
                current.settings.setdefault(key, SshdSetting(keyword, words[0], path, number))

    walk(main, None, 0, (main,))
    return tuple(blocks)


def parse_fail2ban_status(status: Section | None, ports: Section | None) -> Fail2banState | None:
    if status is None:
        return None
    match = re.search(r"Jail list:\s*(.*)$", status.text, re.M)
    if status.status != 0 or not match:
        return Fail2banState(False, ())
    jails = tuple(j.strip() for j in match.group(1).split(",") if j.strip())
    port_map: dict[str, list[str]] = {}
    current = None
    for line in (ports.text if ports else "").splitlines():
        jail = re.match(r"\['multi-set', '([^']*)'", line)
        port = re.match(r"\['port', '([^']*)'\]", line)
        if jail:
            current = jail.group(1)
        elif port and current:
            port_map.setdefault(current, []).extend(p.strip() for p in re.split(r"[,\s]+", port.group(1)) if p.strip())
    return Fail2banState(True, jails, {k: tuple(dict.fromkeys(v)) for k, v in port_map.items()})


def _der_pubkey_hash(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def parse_pem_certs(pem: str) -> tuple[CertInfo, ...]:
    """Every certificate block in ``pem``, in file order (leaf first when well-formed)."""
    from cryptography import x509

    infos = []
    for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S):
        try:
            cert = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            continue
        names: list[str] = []
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            pass
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if not names and cn:
            names = [str(cn[0].value)]
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        infos.append(CertInfo(
            subject=sanitize(cert.subject.rfc4514_string()), issuer=sanitize(cert.issuer.rfc4514_string()),
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
            names=tuple(sanitize(n) for n in names), pubkey_hash=_der_pubkey_hash(cert),
            self_signed=cert.subject == cert.issuer, is_ca=is_ca,
        ))
    return tuple(infos)


def parse_certs(text: str) -> tuple[CertFile, ...]:
    files = []
    for block in re.split(r"^### cert ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        service, _, path = head.partition(" ")
        key_hash = key_path = None
        match = re.search(r"^### keyhash ([0-9a-f]{64}) (.*)$", body, re.M)
        if match:
            key_hash, key_path = match.group(1), match.group(2)
            if key_hash == hashlib.sha256(b"").hexdigest():
                key_hash = None  # openssl could not read it as a key
        missing = re.search(r"^### nokey (.*)$", body, re.M)
        if missing:
            key_path = missing.group(1)
        readable = "### unreadable" not in body
        files.append(CertFile(service, path.strip(), readable, parse_pem_certs(body), key_hash, key_path))
    return tuple(files)


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def parse_dkim_keys(text: str) -> tuple[DkimSigningKey, ...]:
    """``### dkimkey SIGNER DOMAIN SELECTOR HASH|- PATH`` lines of the ``dkim-keys`` probe."""
    keys = []
    for line in text.splitlines():
        fields = line.split(" ", 6)
        if fields[:2] != ["###", "dkimkey"] or len(fields) < 7:
            continue
        signer, domain, selector, digest, path = fields[2:7]
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or digest == _EMPTY_SHA256:
            digest = None  # unreadable, inline, or openssl could not read it as a key
        keys.append(DkimSigningKey(sanitize(signer), sanitize(domain).lower(), sanitize(selector),
                                   sanitize(path.strip()), digest))
    return tuple(keys)


def parse_updates(section: Section | None) -> Updates | None:
    if section is None or not section.text.strip():
        return None
    lines = section.text.splitlines()
    manager = lines[0].strip()
    if manager == "apt":
        inst = [l for l in lines[1:] if l.startswith("Inst ")]
        security = [l for l in inst if re.search(r"[-/]security|Debian-Security", l)]
        sample = tuple(l.split()[1] for l in (security or inst)[:10] if len(l.split()) > 1)
        return Updates("apt", len(inst), len(security), sample)
    if manager == "dnf":
        items = [l for l in lines[1:] if l.strip()]
        return Updates("dnf", len(items), len(items), tuple(l.split()[-1] for l in items[:10]))
    return None


def parse_disks(section: Section | None) -> tuple[Disk, ...]:
    disks = []
    seen = set()
    for line in (section.text if section else "").splitlines():
        fields = line.split()
        # PATH FILESYSTEM 1K-BLOCKS USED AVAILABLE CAPACITY MOUNT
        if len(fields) >= 7 and fields[2].isdigit() and fields[4].isdigit():
            mount = fields[-1]
            if mount in seen:
                continue
            seen.add(mount)
            disks.append(Disk(fields[0], mount, int(fields[2]), int(fields[4])))
    return tuple(disks)


def parse_maps(text: str) -> dict[str, tuple[str, ...]]:
    maps = {}
    for block in re.split(r"^### map ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        maps[head.strip()] = tuple(l for l in body.splitlines() if l.strip())
    return maps


def parse_cipher_lists(text: str) -> dict[str, tuple[OpenSslCipher, ...]] | None:
    """``### ciphers STRING`` blocks of the ``cipher-lists`` probe -> STRING -> its suites
    (an OpenSSL error leaves an empty tuple). None when the server has no openssl."""
    if re.search(r"^### no-openssl$", text, re.M):
        return None
    lists: dict[str, tuple[OpenSslCipher, ...]] = {}
    for block in re.split(r"^### ciphers ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        lists[head.strip()] = parse_openssl_ciphers(body)
    return lists


def _text(sections: dict[str, Section], name: str) -> str | None:
    sec = sections.get(name)
    if sec is None or sec.status not in (0,) or not sec.text.strip():
        return None
    return sec.text


def assemble(target: str, sections: dict[str, Section], ssh_port: int | None = None,
             problems: dict[str, str] | None = None, seconds: float = 0.0) -> CheckFacts:
    """Build CheckFacts from the probe script's sections (pure)."""
    problems = dict(problems or {})
    postfix = dovecot = None
    if _text(sections, "postconf-n") is not None:
        postfix = parse_postfix(_text(sections, "postconf-all"), sections["postconf-n"].text,
                                _text(sections, "postconf-M") or "", _text(sections, "postconf-P") or "")
    elif "postconf-n" in sections:
        problems["postfix"] = "postconf not found or failed"
    if _text(sections, "doveconf-n") is not None:
        key = _text(sections, "dovecot-key")
        dovecot = parse_dovecot(_text(sections, "doveconf-a"), sections["doveconf-n"].text,
                                key.strip() if key else None)
    elif "doveconf-n" in sections:
        sec = sections["doveconf-n"]
        problems["dovecot"] = sec.text.strip().splitlines()[-1] if sec.text.strip() else "doveconf not found"
    listeners = None
    if "listeners" in sections and sections["listeners"].text.strip():
        listeners = tuple(parse_ss(sections["listeners"].text))
    sshd = parse_sshd_instances(sections["sshd"].text, listeners) if "sshd" in sections else ()
    firewall = None
    if any(n in sections for n in ("nft", "iptables", "ufw")):
        firewall = FirewallState(_text(sections, "nft"), _text(sections, "iptables"), _text(sections, "ufw"))
    certbot = None
    if "certbot" in sections:
        lines = sections["certbot"].text.splitlines()
        certbot = tuple(lines[1:]) if lines[:1] == ["certbot"] else None
    unattended = tuple(sections["unattended"].text.splitlines()) if "unattended" in sections else None
    reboot = None
    if "reboot" in sections and sections["reboot"].text.strip():
        lines = sections["reboot"].text.splitlines()
        reboot = tuple(lines[1:]) if lines[0] == "required" else ()
    os_lines = sections["os"].text.split() if "os" in sections else []
    plesk = _text(sections, "plesk")
    return CheckFacts(
        target=target,
        collected_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        postfix=postfix, dovecot=dovecot, sshd=sshd, ssh_port=ssh_port, listeners=listeners,
        firewall=firewall, fail2ban=parse_fail2ban_status(sections.get("fail2ban"), sections.get("fail2ban-ports")),
        certs=parse_certs(sections["certs"].text) if "certs" in sections else (),
        certbot=certbot, updates=parse_updates(sections.get("updates")), unattended=unattended, reboot=reboot,
        disks=parse_disks(sections.get("disk")),
        dkim=tuple(sections["dkim"].text.splitlines()) if "dkim" in sections else (),
        dkim_keys=parse_dkim_keys(sections["dkim-keys"].text) if "dkim-keys" in sections else (),
        plesk=plesk.strip() if plesk else None,
        relay_maps=parse_maps(sections["relay-maps"].text) if "relay-maps" in sections else {},
        cipher_lists=parse_cipher_lists(sections["cipher-lists"].text) if "cipher-lists" in sections else None,
        os_ids=tuple(w.strip('"') for w in os_lines[:-1]),
        problems=problems, seconds=round(seconds, 3),
    )


async def _ssh_port(transport: Transport) -> int | None:
    try:
        result = await transport.run(["sh", "-c", 'printf "%s\\n" "${SSH_CONNECTION:-}"'], timeout=15)
    except TransportError:
        return None
    fields = result.stdout.split()
    return int(fields[3]) if len(fields) == 4 and fields[3].isdigit() else None


async def run_probes(transport: Transport, names: tuple[str, ...] | None = None) -> tuple[dict[str, Section], dict[str, str]]:
    """Run the chosen probes in one script (through sudo when allowed)."""
    chosen = tuple((n, PROBES[n]) for n in (names or tuple(PROBES)))
    marker = "@@mailtui-" + secrets.token_hex(8)
    script = build_script(marker, chosen)
    problems: dict[str, str] = {}
    use_sudo = transport.sudo_allowed or transport.is_root
    try:
        result = await transport.run(["sh", "-c", script, "mailtui-checks", marker], sudo=use_sudo, timeout=120)
    except (SudoPasswordRequired, SudoUnavailable) as exc:
        problems["root"] = f"read without root, so sshd, Dovecot, firewall and fail2ban are unknown: {exc.message}"
        result = await transport.run(["sh", "-c", script, "mailtui-checks", marker], timeout=120)
    if not use_sudo:
        problems["root"] = "sudo is switched off for this server: sshd, Dovecot, firewall and fail2ban are unknown"
    return split_sections(result.stdout, marker), problems


async def gather(transport: Transport, names: tuple[str, ...] | None = None) -> CheckFacts:
    """Read the server's configuration for the checklist (one script, one round trip)."""
    started = time.monotonic()
    (sections, problems), port = await asyncio.gather(run_probes(transport, names), _ssh_port(transport))
    return assemble(transport.label, sections, port, problems, time.monotonic() - started)
