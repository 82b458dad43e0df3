"""What a greeting gives away: software, version, operating system (pure).

Shared by SMTP, IMAP, POP3 and SSH banners. A version number tells an attacker which
exploits to try; a bare software name is information only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Disclosure:
    software: str | None = None
    version: str | None = None
    os: str | None = None

    @property
    def reveals_version(self) -> bool:
        return self.version is not None

    @property
    def reveals_anything(self) -> bool:
        return bool(self.software or self.version or self.os)

    def describe(self) -> str:
        parts = []
        if self.software:
            parts.append(self.software + (f" {self.version}" if self.version else ""))
        elif self.version:
            parts.append(f"version {self.version}")
        if self.os:
            parts.append(f"OS {self.os}")
        return ", ".join(parts) if parts else "nothing"


_SOFTWARE = [
    # (name, regex with an optional version group)
    ("Postfix", re.compile(r"\bPostfix(?:[ /_-]?(?:v(?:ersion)?\s*)?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Exim", re.compile(r"\bExim(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Sendmail", re.compile(r"\bSendmail(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Microsoft Exchange", re.compile(r"\bMicrosoft ESMTP MAIL Service(?:, Version: ([\d.]+))?", re.I)),
    ("qmail", re.compile(r"\bqmail(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("OpenSMTPD", re.compile(r"\bOpenSMTPD(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Haraka", re.compile(r"\bHaraka(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Dovecot", re.compile(r"\bDovecot(?:[ /_-]?v?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Courier", re.compile(r"\bCourier(?:-IMAP)?(?:[ /_-]?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("Cyrus", re.compile(r"\bCyrus(?: IMAP)?(?:[ /_-]?v?(\d+\.\d+(?:\.\d+)*))?", re.I)),
    ("OpenSSH", re.compile(r"\bOpenSSH_(\d+\.\d+(?:p\d+)?)", re.I)),
    ("Dropbear", re.compile(r"\bdropbear_(\d+\.\d+)", re.I)),
]
_OS = re.compile(r"\b(Debian|Ubuntu|CentOS|Red Hat|RHEL|Fedora|FreeBSD|OpenBSD|NetBSD|Alpine|SUSE|Raspbian|Windows)\b", re.I)
_GENERIC_VERSION = re.compile(r"(?<![\d.])[vV]?(\d+\.\d+\.\d+)(?![\d.])")


def parse_disclosure(banner: str) -> Disclosure:
    """Software, version and OS named in a greeting line (``220 ... ESMTP Postfix 3.7.11 (Debian/GNU)``)."""
    software = version = None
    for name, pattern in _SOFTWARE:
        m = pattern.search(banner)
        if m:
            software = name
            version = m.group(1) if m.lastindex else None
            break
    if version is None:
        g = _GENERIC_VERSION.search(banner)
        if g:
            version = g.group(1)
    os_match = _OS.search(banner)
    return Disclosure(software, version, os_match.group(1) if os_match else None)
