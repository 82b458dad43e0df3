"""The hardening rules, pure functions over :class:`CheckFacts`.

Each rule is registered with its id, title, area, severity, plain-language why, reference,
manual remedy and (when one exists) the id of its automatic fix. The docstring says what
it checks; ``why`` is what the admin reads. Rules are written for a mail server that is an
MX: nothing here ever suggests non-MX hardening such as ``inet_interfaces = loopback-only``.

Statuses: FAIL = fix it; WARN = below good practice or cannot be judged safely from the
inside (e.g. an RBL a lab cannot query); INFO = worth knowing / not applicable; ERROR =
the fact could not be read (root missing, tool absent).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re

from mailtui.core.checks.gather import (CheckFacts, DovecotConfig, MasterService, PostfixConfig, SshdInstance,
                                        SshdMatch, SshdSetting)
from mailtui.core.checks.registry import Area, Verdict, rule
from mailtui.core.findings import Severity, Status
from mailtui.core.tlsclass import STRICT_CIPHER_LIST, CipherSet, grade_ciphers

P, F, W, I, E = Status.PASS, Status.FAIL, Status.WARN, Status.INFO, Status.ERROR

SSHD_REF = "https://man.openbsd.org/sshd_config"


# ----------------------------------------------------------------------- helpers
def tokens(value: str) -> list[str]:
    """A Postfix list (commas and/or whitespace) as tokens."""
    return [t for t in re.split(r"[\s,]+", value) if t]


def _no_postfix(facts: CheckFacts) -> list[Verdict] | None:
    if facts.postfix is None:
        why = facts.problems.get("postfix", "Postfix was not found on this server")
        return [Verdict(I, f"not checked: {why}")]
    return None


def _no_dovecot(facts: CheckFacts) -> list[Verdict] | None:
    if facts.dovecot is None:
        why = facts.problems.get("dovecot") or facts.problems.get("root") or "Dovecot was not found on this server"
        return [Verdict(I, f"not checked: {why}")]
    return None


def _no_sshd(facts: CheckFacts) -> list[Verdict] | None:
    if not facts.sshd:
        why = facts.problems.get("root", "no running sshd found (or its processes need root to see)")
        return [Verdict(E if "root" in facts.problems else I, f"not checked: {why}")]
    return None


def _svc_label(svc: MasterService) -> str:
    return f"master.cf {svc.name}/{svc.type}"


def _where(pf: PostfixConfig, name: str, svc: MasterService | None) -> str:
    if svc is not None and name in svc.overrides:
        return f"master.cf {svc.name}/{svc.type} -o {name}"
    return f"main.cf {name}"


def _port_target(svc: MasterService) -> str:
    return f"port {svc.port}" if svc.port else svc.key


def _smtp_services(pf: PostfixConfig) -> list[MasterService]:
    """The public MX service(s): smtpd on port 25 (not submission/smtps)."""
    return [s for s in pf.smtpd_services if s.port == 25]


def _submission_services(pf: PostfixConfig) -> list[MasterService]:
    return [s for s in pf.smtpd_services if s.port in (587, 465)]


def _wrapper(pf: PostfixConfig, svc: MasterService) -> bool:
    return pf.effective("smtpd_tls_wrappermode", svc) == "yes"


def _proto_floor(value: str) -> str | None:
    """The lowest TLS version a Postfix/OpenSSL protocol list allows (None: unknown)."""
    order = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    value = value.strip()
    if not value:
        return "SSLv3"  # empty: OpenSSL defaults; old Postfix allowed SSLv3
    match = re.match(r">=\s*(\S+)", value)
    if match:
        return match.group(1) if match.group(1) in order else None
    allowed = set(order)
    for tok in tokens(value.replace(":", " ")):
        if tok.startswith("!") and tok[1:] in allowed:
            allowed.discard(tok[1:])
        elif tok in order:
            allowed = {t for t in order if t in tokens(value.replace(":", " "))}
            break
    return next((v for v in order if v in allowed), None)


_OLD_TLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")


def _sshd_targets(facts: CheckFacts) -> list[SshdInstance]:
    return list(facts.sshd)


def _sshd_label(inst: SshdInstance) -> str:
    ports = ",".join(str(p) for p in inst.ports) or "?"
    return f"sshd {inst.config} (port {ports})"


def _listening(facts: CheckFacts, ports: set[int]) -> list:
    return [l for l in facts.listeners or () if l.port in ports]


def _public(address: str) -> bool:
    """Listening where others can reach it: a wildcard or a non-loopback address."""
    if address in ("*", "0.0.0.0", "::", ""):
        return True
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True


# =========================================================================== SMTP
@rule("smtp.open_relay", "Not an open relay", Area.SMTP, Severity.CRITICAL,
      why="""An open relay forwards mail from anyone to anyone. Spammers find one within hours,
      your server's address lands on every blocklist and your own mail stops being delivered.
      Postfix must refuse to relay for clients that are neither trusted nor logged in
      (reject_unauth_destination in smtpd_relay_restrictions).""",
      reference="https://www.postfix.org/SMTPD_ACCESS_README.html#relay",
      remedy="smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
      fix="smtp.open_relay")
def open_relay(facts: CheckFacts, now) -> list[Verdict]:
    """Each smtpd service's relay/recipient restrictions end relaying for strangers
    (reject/defer_unauth_destination, or a final reject) before any bare ``permit``."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in pf.smtpd_services:
        verdict = None
        for name in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
            toks = tokens(pf.effective(name, svc))
            for i, tok in enumerate(toks):
                if tok.startswith("check_") and tok.endswith("_access") and i + 1 < len(toks):
                    opens = [l for l in facts.relay_maps.get(toks[i + 1], ())
                             if re.search(r"\s(OK|PERMIT|RELAY|2\d\d)\b", l, re.I)]
                    if opens:
                        verdict = Verdict(F, f"{name}: {tok} {toks[i + 1]} lets clients relay before "
                                          f"reject_unauth_destination: {'; '.join(opens[:3])}", _port_target(svc),
                                          (_where(pf, name, svc), toks[i + 1]))
                        break
                if tok in ("reject_unauth_destination", "defer_unauth_destination", "reject", "defer", "defer_all"):
                    verdict = Verdict(P, f"{name} stops relaying at {tok}", _port_target(svc),
                                      (_where(pf, name, svc),))
                    break
                if tok == "permit":
                    verdict = Verdict(F, f"{name} permits every client before any relay check: "
                                      f"{' '.join(toks)}", _port_target(svc), (_where(pf, name, svc),))
                    break
            if verdict:
                break
        out.append(verdict or Verdict(F, "neither smtpd_relay_restrictions nor smtpd_recipient_restrictions "
                                      "has reject_unauth_destination", _port_target(svc),
                                      ("main.cf smtpd_relay_restrictions",)))
    return out or [Verdict(I, "no smtpd service in master.cf")]


@rule("smtp.mynetworks", "Trusted networks (mynetworks) no wider than needed", Area.SMTP, Severity.HIGH,
      why="""Clients inside mynetworks may relay mail anywhere without logging in. A range wider
      than your own machines (a whole provider network, a /8, 0.0.0.0/0) turns every host in
      it into a sender of mail in your name. Staff should send through submission with a
      password, not by being 'inside'.""",
      reference="https://www.postfix.org/postconf.5.html#mynetworks",
      remedy="mynetworks = 127.0.0.0/8 [::1]/128 (plus only the addresses of your own servers that relay)",
      fix="smtp.mynetworks")
def mynetworks(facts: CheckFacts, now) -> list[Verdict]:
    """mynetworks holds only loopback and small ranges: no public network wider than /29
    (IPv4) or /64 (IPv6), no private range wider than /24."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    value = pf.effective("mynetworks")
    wide = []
    others = []
    for tok in tokens(value):
        text = tok.strip("[]").replace("]/", "/")
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue  # a table (hash:..) or a name: not judged
        if net.is_loopback:
            if net.version == 4 and net.prefixlen < 8:
                wide.append(tok)
            continue
        limit = (29 if net.version == 4 else 64) if not net.is_private else (24 if net.version == 4 else 48)
        if net.prefixlen < limit:
            wide.append(tok)
        else:
            others.append(tok)
    config = ("main.cf mynetworks" if "mynetworks" in pf.explicit else "main.cf mynetworks_style",)
    if wide:
        return [Verdict(F, f"mynetworks trusts wide ranges to relay without a password: {', '.join(wide)}",
                        config=config)]
    if others:
        return [Verdict(W, f"mynetworks also trusts {', '.join(others)}: make sure these are your own hosts",
                        config=config)]
    return [Verdict(P, f"mynetworks = {value} (loopback only)", config=config)]


@rule("smtp.vrfy", "VRFY disabled", Area.SMTP, Severity.MEDIUM,
      why="""The VRFY command tells anyone whether an address exists. Spammers and password
      guessers use it to harvest your valid user names.""",
      reference="https://www.postfix.org/postconf.5.html#disable_vrfy_command",
      remedy="disable_vrfy_command = yes", fix="smtp.vrfy")
def vrfy(facts: CheckFacts, now) -> list[Verdict]:
    """``disable_vrfy_command = yes`` (Postfix never implements EXPN: not judged)."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    value = facts.postfix.get("disable_vrfy_command")
    if value == "yes":
        return [Verdict(P, "disable_vrfy_command = yes", config=("main.cf disable_vrfy_command",))]
    return [Verdict(F, f"disable_vrfy_command = {value or 'no'}: VRFY answers whether a user exists",
                    config=("main.cf disable_vrfy_command",))]


@rule("smtp.banner", "Banner does not reveal the software version", Area.SMTP, Severity.LOW,
      why="""The greeting every client sees should not name the mail software and its version:
      it tells attackers which exploits to try. '220 mail.example.org ESMTP' is enough.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_banner",
      remedy="smtpd_banner = $myhostname ESMTP", fix="smtp.banner")
def banner(facts: CheckFacts, now) -> list[Verdict]:
    """smtpd_banner (per smtpd service) has no $mail_name/$mail_version/Postfix/version text."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in pf.smtpd_services:
        raw = pf.value("smtpd_banner", svc)
        shown = pf.effective("smtpd_banner", svc)
        leaks = re.search(r"\$\{?mail_(name|version)|postfix|\d+\.\d+\.\d+|debian|ubuntu", raw, re.I)
        where = (_where(pf, "smtpd_banner", svc),)
        if leaks:
            out.append(Verdict(F, f"banner shows '220 {shown}'", _port_target(svc), where))
        else:
            out.append(Verdict(P, f"banner '220 {shown}'", _port_target(svc), where))
    return out


@rule("smtp.helo_required", "HELO/EHLO required", Area.SMTP, Severity.LOW,
      why="""Real mail servers always introduce themselves with HELO/EHLO; many spam tools do not.
      Requiring it costs legitimate senders nothing and stops the crudest bots.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_helo_required",
      remedy="smtpd_helo_required = yes", fix="smtp.helo_required")
def helo_required(facts: CheckFacts, now) -> list[Verdict]:
    """``smtpd_helo_required = yes``."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    value = facts.postfix.get("smtpd_helo_required")
    status = P if value == "yes" else F
    return [Verdict(status, f"smtpd_helo_required = {value or 'no'}", config=("main.cf smtpd_helo_required",))]


_SPOOF_GUARDS = ("reject_unauthenticated_sender_login_mismatch", "reject_sender_login_mismatch",
                 "reject_known_sender_login_mismatch", "check_sender_access", "check_policy_service")


@rule("smtp.own_domain_spoofing", "Unauthenticated mail claiming your own domain is checked", Area.SMTP,
      Severity.HIGH,
      why="""Anyone can connect to port 25 and send your staff a message 'from' your boss. Unless
      something checks it (a sender-login rule, an access table, an SPF/DMARC policy service or
      milter), Postfix delivers it and the forgery looks internal.""",
      reference="https://www.postfix.org/postconf.5.html#reject_unauthenticated_sender_login_mismatch",
      remedy="""smtpd_sender_login_maps listing who owns each of your addresses, and
      smtpd_sender_restrictions = reject_unauthenticated_sender_login_mismatch on port 25 (or an
      SPF/DMARC policy service or milter such as policyd-spf, OpenDMARC or rspamd)""",
      fix="smtp.own_domain_spoofing")
def own_domain_spoofing(facts: CheckFacts, now) -> list[Verdict]:
    """Port 25's restrictions contain a sender-login check (with smtpd_sender_login_maps),
    an access table or a policy service, or a DMARC/SPF milter is configured."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _smtp_services(pf):
        found = []
        for name in ("smtpd_sender_restrictions", "smtpd_recipient_restrictions", "smtpd_relay_restrictions",
                     "smtpd_client_restrictions", "smtpd_helo_restrictions"):
            for tok in tokens(pf.effective(name, svc)):
                if tok in _SPOOF_GUARDS:
                    if "login_mismatch" in tok and not pf.effective("smtpd_sender_login_maps", svc):
                        continue
                    found.append(f"{name} {tok}")
        milters = pf.effective("smtpd_milters", svc)
        if re.search(r"dmarc|spf|rspamd|11332", milters, re.I):
            found.append(f"smtpd_milters {milters}")
        if found:
            out.append(Verdict(P, f"checked by {found[0]}", _port_target(svc), (found[0],)))
        else:
            out.append(Verdict(F, "nothing checks unauthenticated senders that use your own domain "
                               "(no sender-login map, access table, SPF/DMARC policy or milter)",
                               _port_target(svc), ("main.cf smtpd_sender_restrictions",)))
    return out or [Verdict(I, "no smtpd on port 25")]


_RBL = ("reject_rbl_client", "reject_rhsbl_client", "reject_rhsbl_sender", "reject_rhsbl_helo")


@rule("smtp.rbl", "A DNS blocklist (RBL) is used", Area.SMTP, Severity.MEDIUM,
      why="""DNS blocklists such as Spamhaus ZEN name the addresses of known spam sources and
      hijacked machines. Checking them before accepting mail removes most junk at almost no
      cost.""",
      reference="https://www.postfix.org/postconf.5.html#reject_rbl_client",
      remedy="""postscreen with postscreen_dnsbl_sites = zen.spamhaus.org*3, or
      reject_rbl_client zen.spamhaus.org in smtpd_recipient_restrictions (needs a local
      resolver: public resolvers are refused by Spamhaus)""")
def rbl(facts: CheckFacts, now) -> list[Verdict]:
    """postscreen_dnsbl_sites, a reject_rbl_client/rhsbl restriction, or an rspamd milter."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    for name in ("smtpd_recipient_restrictions", "smtpd_client_restrictions", "smtpd_relay_restrictions",
                 "smtpd_sender_restrictions", "smtpd_helo_restrictions"):
        toks = tokens(pf.effective(name))
        for i, tok in enumerate(toks):
            if tok in _RBL and i + 1 < len(toks):
                return [Verdict(P, f"{name} {tok} {toks[i + 1]}", config=(f"main.cf {name}",))]
    if pf.service("smtp", "inet") and "postscreen" in pf.service("smtp", "inet").command and \
            pf.get("postscreen_dnsbl_sites"):
        return [Verdict(P, f"postscreen_dnsbl_sites = {pf.get('postscreen_dnsbl_sites')}",
                        config=("main.cf postscreen_dnsbl_sites",))]
    if re.search(r"rspamd|11332", pf.get("smtpd_milters")):
        return [Verdict(P, "rspamd milter (RBLs are rspamd's job)", config=("main.cf smtpd_milters",))]
    return [Verdict(W, "no DNS blocklist in postscreen or the smtpd restrictions",
                    config=("main.cf smtpd_recipient_restrictions",))]


@rule("smtp.connection_limits", "Limits against connection floods", Area.SMTP, Severity.MEDIUM,
      why="""Without postscreen or per-client rate limits, one address can open connection after
      connection, tie up every smtpd process and slow or stop mail for everyone.""",
      reference="https://www.postfix.org/TUNING_README.html#conn_limit",
      remedy="postscreen in master.cf, or smtpd_client_connection_rate_limit = 60",
      fix="smtp.connection_limits")
def connection_limits(facts: CheckFacts, now) -> list[Verdict]:
    """postscreen on port 25, or smtpd_client_connection_rate_limit > 0."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    smtp = pf.service("smtp", "inet")
    if smtp is not None and smtp.command.startswith("postscreen"):
        return [Verdict(P, "postscreen guards port 25", config=("master.cf smtp/inet postscreen",))]
    rate = pf.get("smtpd_client_connection_rate_limit", "0")
    if rate.isdigit() and int(rate) > 0:
        return [Verdict(P, f"smtpd_client_connection_rate_limit = {rate} per "
                        f"{pf.get('anvil_rate_time_unit', '60s')}",
                        config=("main.cf smtpd_client_connection_rate_limit",))]
    return [Verdict(F, f"no postscreen and smtpd_client_connection_rate_limit = {rate} (unlimited)",
                    config=("main.cf smtpd_client_connection_rate_limit",))]


@rule("smtp.message_size_limit", "Message size limit set", Area.SMTP, Severity.LOW,
      why="""Without a size limit one huge message (or a few) can fill the disk and stop mail
      for everybody. Postfix's default is 10 MB; 0 means unlimited.""",
      reference="https://www.postfix.org/postconf.5.html#message_size_limit",
      remedy="message_size_limit = 52428800 (50 MB), or the size your users need")
def message_size_limit(facts: CheckFacts, now) -> list[Verdict]:
    """message_size_limit is non-zero and at most 200 MB."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    value = facts.postfix.get("message_size_limit", "10240000")
    config = ("main.cf message_size_limit",)
    if not value.isdigit() or int(value) == 0:
        return [Verdict(F, f"message_size_limit = {value} (unlimited)", config=config)]
    mb = int(value) / 1048576
    if mb > 200:
        return [Verdict(W, f"message_size_limit = {value} ({mb:.0f} MB): very large", config=config)]
    return [Verdict(P, f"message_size_limit = {value} ({mb:.1f} MB)", config=config)]


@rule("smtp.unknown_recipients", "Mail for unknown users is rejected at once", Area.SMTP, Severity.MEDIUM,
      why="""If Postfix accepts mail for addresses that do not exist and bounces it later, the
      bounces go to forged senders: your server becomes a source of backscatter spam and gets
      blocklisted.""",
      reference="https://www.postfix.org/LOCAL_RECIPIENT_README.html",
      remedy="keep local_recipient_maps (default) or virtual_mailbox_maps set so unknown users get 550")
def unknown_recipients(facts: CheckFacts, now) -> list[Verdict]:
    """Recipients are validated: local_recipient_maps non-empty when mydestination is, and
    virtual_mailbox_maps set when virtual_mailbox_domains is."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    problems = []
    if pf.effective("mydestination").strip() and not pf.get("local_recipient_maps").strip():
        problems.append("mydestination has domains but local_recipient_maps is empty")
    if pf.get("virtual_mailbox_domains").strip() and not pf.get("virtual_mailbox_maps").strip():
        problems.append("virtual_mailbox_domains without virtual_mailbox_maps")
    if problems:
        return [Verdict(F, "; ".join(problems), config=("main.cf local_recipient_maps",))]
    return [Verdict(P, "recipients are checked against the mailbox tables",
                    config=("main.cf virtual_mailbox_maps",))]


@rule("smtp.auth_on_port_25", "Password login offered only where needed", Area.SMTP, Severity.LOW,
      why="""Port 25 is for other mail servers. When it also accepts logins, password guessers
      hammer it; people's mail programs should log in on submission (587/465) instead. Some
      setups still need it: this is advice, not a failure.""",
      reference="https://www.postfix.org/SASL_README.html#server_sasl_enable",
      remedy="smtpd_sasl_auth_enable = no in main.cf, yes only on submission/smtps in master.cf")
def auth_on_port_25(facts: CheckFacts, now) -> list[Verdict]:
    """Whether smtpd_sasl_auth_enable is on for the port-25 service (INFO when it is)."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _smtp_services(pf):
        value = pf.effective("smtpd_sasl_auth_enable", svc)
        out.append(Verdict(I if value == "yes" else P, f"smtpd_sasl_auth_enable = {value or 'no'} on port 25",
                           _port_target(svc), (_where(pf, "smtpd_sasl_auth_enable", svc),)))
    return out or [Verdict(I, "no smtpd on port 25")]


@rule("smtp.compromise_ready", "Ready to stop one compromised account", Area.SMTP, Severity.LOW,
      why="""When a user's password is stolen, spam pours out through their login. With a
      check_sasl_access table ahead of permit_sasl_authenticated you stop that one login by
      adding a line to a table - not by editing main.cf in the middle of an incident.""",
      reference="https://www.postfix.org/postconf.5.html#check_sasl_access",
      remedy="""-o smtpd_relay_restrictions=check_sasl_access texthash:/etc/postfix/mailtui_sasl_access,
      permit_sasl_authenticated,reject on submission and smtps""",
      fix="smtp.compromise_ready")
def compromise_ready(facts: CheckFacts, now) -> list[Verdict]:
    """On each submission service, check_sasl_access comes before permit_sasl_authenticated."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _submission_services(pf):
        ok = False
        for name in ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                     "smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
            # each restriction list is its own stage: a permit in the client stage does not
            # skip the relay stage, so check_sasl_access counts wherever it precedes the
            # permit_sasl_authenticated of its own list
            toks = tokens(pf.effective(name, svc))
            if "check_sasl_access" in toks and ("permit_sasl_authenticated" not in toks or
                                                toks.index("check_sasl_access") < toks.index("permit_sasl_authenticated")):
                ok = True
                table = toks[toks.index("check_sasl_access") + 1] if toks[-1] != "check_sasl_access" else "?"
                out.append(Verdict(P, f"{name} has check_sasl_access {table}", _port_target(svc),
                                   (_where(pf, name, svc),)))
                break
        if not ok:
            out.append(Verdict(W, "no check_sasl_access ahead of permit_sasl_authenticated", _port_target(svc),
                               (_where(pf, "smtpd_relay_restrictions", svc),)))
    return out or [Verdict(I, "no submission service")]


# ===================================================================== submission
@rule("submission.enabled", "Submission port for mail programs", Area.SUBMISSION, Severity.MEDIUM,
      why="""People's mail programs should send on port 587 (STARTTLS) or 465 (TLS) with a
      password, not on port 25 which many networks block and which must stay open to
      everyone.""",
      reference="https://www.rfc-editor.org/rfc/rfc8314",
      remedy="enable the submission (587) and/or submissions (465) service in master.cf")
def submission_enabled(facts: CheckFacts, now) -> list[Verdict]:
    """A smtpd service on 587 or 465 exists in master.cf."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    subs = _submission_services(facts.postfix)
    if subs:
        return [Verdict(P, "submission on port(s) " + ", ".join(str(s.port) for s in subs),
                        config=tuple(_svc_label(s) for s in subs))]
    return [Verdict(W, "no submission (587) or submissions (465) service in master.cf")]


@rule("submission.tls_required", "Submission requires TLS", Area.SUBMISSION, Severity.HIGH,
      why="""On the submission ports your users send their password. If TLS is only offered, not
      required, a client (or an attacker in the path who strips STARTTLS) sends it in the
      clear.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_security_level",
      remedy="-o smtpd_tls_security_level=encrypt on submission (port 465 uses smtpd_tls_wrappermode=yes)",
      fix="submission.tls_required")
def submission_tls_required(facts: CheckFacts, now) -> list[Verdict]:
    """587: effective smtpd_tls_security_level = encrypt; 465: smtpd_tls_wrappermode = yes."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _submission_services(pf):
        if _wrapper(pf, svc):
            out.append(Verdict(P, "TLS from the first byte (smtpd_tls_wrappermode = yes)", _port_target(svc),
                               (_where(pf, "smtpd_tls_wrappermode", svc),)))
            continue
        level = pf.effective("smtpd_tls_security_level", svc)
        status = P if level == "encrypt" else F
        out.append(Verdict(status, f"smtpd_tls_security_level = {level or '(empty: no TLS)'}", _port_target(svc),
                           (_where(pf, "smtpd_tls_security_level", svc),)))
    return out or [Verdict(I, "no submission service")]


@rule("submission.auth_required", "Submission requires a login", Area.SUBMISSION, Severity.HIGH,
      why="""The submission ports exist for your own users. Without a required login they relay
      for whoever connects (or accept spam as if it were local mail).""",
      reference="https://www.postfix.org/SASL_README.html",
      remedy="-o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
      fix="submission.auth_required")
def submission_auth_required(facts: CheckFacts, now) -> list[Verdict]:
    """SASL on, and client or relay restrictions are ``permit_sasl_authenticated, reject``
    (nothing but loopback trust before the reject)."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _submission_services(pf):
        sasl = pf.effective("smtpd_sasl_auth_enable", svc)
        required = False
        for name in ("smtpd_client_restrictions", "smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
            toks = tokens(pf.effective(name, svc))
            if "permit_sasl_authenticated" in toks and "reject" in toks and \
                    toks.index("reject") > toks.index("permit_sasl_authenticated") and "permit" not in toks:
                required = True
                where = _where(pf, name, svc)
                break
        if sasl == "yes" and required:
            out.append(Verdict(P, f"SASL on and {where.split()[-1]} ends in reject", _port_target(svc), (where,)))
        else:
            why = "SASL is off" if sasl != "yes" else "no restriction list ends with permit_sasl_authenticated, reject"
            out.append(Verdict(F, why, _port_target(svc), (_where(pf, "smtpd_sasl_auth_enable", svc),
                                                           _where(pf, "smtpd_client_restrictions", svc))))
    return out or [Verdict(I, "no submission service")]


@rule("submission.sender_login_mismatch", "Logged-in users cannot send as others", Area.SUBMISSION,
      Severity.MEDIUM,
      why="""A user who logs in (or a thief with their password) should only send as their own
      address. Otherwise one stolen password sends mail as the director, the bank or
      anyone.""",
      reference="https://www.postfix.org/postconf.5.html#reject_sender_login_mismatch",
      remedy="""smtpd_sender_login_maps (who owns which address) and -o
      smtpd_sender_restrictions=reject_sender_login_mismatch on submission and smtps""",
      fix="submission.sender_login_mismatch")
def sender_login_mismatch(facts: CheckFacts, now) -> list[Verdict]:
    """reject_(known_)sender_login_mismatch with a non-empty smtpd_sender_login_maps on 587/465."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _submission_services(pf):
        maps = pf.effective("smtpd_sender_login_maps", svc)
        found = None
        for name in ("smtpd_sender_restrictions", "smtpd_relay_restrictions", "smtpd_recipient_restrictions",
                     "smtpd_client_restrictions"):
            for tok in tokens(pf.effective(name, svc)):
                if tok in ("reject_sender_login_mismatch", "reject_known_sender_login_mismatch"):
                    found = (name, tok)
        if found and maps:
            out.append(Verdict(P, f"{found[0]} {found[1]}, maps {maps}", _port_target(svc),
                               (_where(pf, found[0], svc), _where(pf, "smtpd_sender_login_maps", svc))))
        elif found:
            out.append(Verdict(F, f"{found[1]} without smtpd_sender_login_maps checks nothing", _port_target(svc),
                               (_where(pf, "smtpd_sender_login_maps", svc),)))
        else:
            out.append(Verdict(F, "no reject_sender_login_mismatch: a logged-in user may use any sender address",
                               _port_target(svc), (_where(pf, "smtpd_sender_restrictions", svc),)))
    return out or [Verdict(I, "no submission service")]


@rule("smtp.auth_after_tls", "Passwords only after TLS (smtpd_tls_auth_only)", Area.SUBMISSION, Severity.HIGH,
      why="""If AUTH is offered before STARTTLS, mail programs (and bots) send passwords in the
      clear, readable by anyone on the path.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_auth_only",
      remedy="smtpd_tls_auth_only = yes (and no -o smtpd_tls_auth_only=no in master.cf)",
      fix="smtp.auth_after_tls")
def auth_after_tls(facts: CheckFacts, now) -> list[Verdict]:
    """Every smtpd service with SASL on and no wrapper mode has smtpd_tls_auth_only = yes."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in pf.smtpd_services:
        if pf.effective("smtpd_sasl_auth_enable", svc) != "yes" or _wrapper(pf, svc):
            continue
        value = pf.effective("smtpd_tls_auth_only", svc)
        status = P if value == "yes" else F
        out.append(Verdict(status, f"smtpd_tls_auth_only = {value or 'no'}" +
                           ("" if status == P else ": AUTH is offered before STARTTLS"), _port_target(svc),
                           (_where(pf, "smtpd_tls_auth_only", svc),)))
    return out or [Verdict(P, "no plaintext port offers AUTH")]


# ============================================================================ TLS
@rule("tls.smtp_offered", "TLS offered on port 25", Area.TLS, Severity.MEDIUM,
      why="""Other mail servers encrypt the mail they send you only if you offer STARTTLS. On
      port 25 it must be offered ('may') but not required ('encrypt' would refuse mail from
      the few servers without TLS, RFC 3207).""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_security_level",
      remedy="smtpd_tls_security_level = may, with smtpd_tls_cert_file/smtpd_tls_key_file (or smtpd_tls_chain_files)",
      fix="tls.smtp_offered")
def smtp_tls_offered(facts: CheckFacts, now) -> list[Verdict]:
    """Port 25: effective smtpd_tls_security_level = may and a certificate is configured."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    cert = pf.get("smtpd_tls_cert_file") or pf.get("smtpd_tls_chain_files")
    for svc in _smtp_services(pf):
        level = pf.effective("smtpd_tls_security_level", svc)
        where = (_where(pf, "smtpd_tls_security_level", svc),)
        if level == "may" and cert:
            out.append(Verdict(P, "STARTTLS offered (smtpd_tls_security_level = may)", _port_target(svc), where))
        elif level == "encrypt":
            out.append(Verdict(W, "smtpd_tls_security_level = encrypt on port 25 refuses mail from servers "
                               "without TLS", _port_target(svc), where))
        elif level in ("may", "encrypt"):
            out.append(Verdict(F, "TLS enabled but no certificate configured", _port_target(svc),
                               ("main.cf smtpd_tls_cert_file",)))
        else:
            out.append(Verdict(F, f"smtpd_tls_security_level = {level or '(empty)'}: no STARTTLS",
                               _port_target(svc), where))
    return out or [Verdict(I, "no smtpd on port 25")]


@rule("tls.smtp_protocols", "No SSLv2/SSLv3 on port 25", Area.TLS, Severity.MEDIUM,
      why="""Port 25 is opportunistic: any encryption beats plain text, so TLS 1.0/1.1 are still
      tolerated there for old senders (stated, not flagged). SSLv2/SSLv3 are broken and must be
      off.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_protocols",
      remedy="smtpd_tls_protocols = >=TLSv1 at least (>=TLSv1.2 if you can)")
def smtp_protocols(facts: CheckFacts, now) -> list[Verdict]:
    """Port 25's smtpd_tls_protocols floor is at least TLSv1 (INFO below TLSv1.2)."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _smtp_services(pf):
        value = pf.effective("smtpd_tls_protocols", svc)
        floor = _proto_floor(value)
        where = (_where(pf, "smtpd_tls_protocols", svc),)
        if floor in ("SSLv2", "SSLv3"):
            out.append(Verdict(F, f"smtpd_tls_protocols = {value or '(default)'} allows {floor}", _port_target(svc), where))
        elif floor in ("TLSv1", "TLSv1.1"):
            out.append(Verdict(I, f"smtpd_tls_protocols = {value}: {floor} tolerated on port 25 (opportunistic TLS)",
                               _port_target(svc), where))
        else:
            out.append(Verdict(P, f"smtpd_tls_protocols = {value}", _port_target(svc), where))
    return out or [Verdict(I, "no smtpd on port 25")]


@rule("tls.submission_protocols", "No SSLv3/TLS 1.0/1.1 on submission", Area.TLS, Severity.HIGH,
      why="""Where passwords travel (587/465) only TLS 1.2 and 1.3 should be accepted: the older
      versions have known attacks and every current mail program speaks TLS 1.2.""",
      reference="https://www.rfc-editor.org/rfc/rfc8996",
      remedy="smtpd_tls_protocols = >=TLSv1.2 and smtpd_tls_mandatory_protocols = >=TLSv1.2",
      fix="tls.submission_protocols")
def submission_protocols(facts: CheckFacts, now) -> list[Verdict]:
    """587/465: both smtpd_tls_protocols and smtpd_tls_mandatory_protocols floor >= TLSv1.2."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    out = []
    for svc in _submission_services(pf):
        bad = []
        for name in ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"):
            value = pf.effective(name, svc)
            floor = _proto_floor(value)
            if floor is None or floor in _OLD_TLS:
                bad.append(f"{name} = {value or '(default)'}")
        where = (_where(pf, "smtpd_tls_protocols", svc), _where(pf, "smtpd_tls_mandatory_protocols", svc))
        if bad:
            out.append(Verdict(F, "old TLS allowed: " + "; ".join(bad), _port_target(svc), where))
        else:
            out.append(Verdict(P, f"TLS >= 1.2 ({pf.effective('smtpd_tls_mandatory_protocols', svc)})",
                               _port_target(svc), where))
    return out or [Verdict(I, "no submission service")]


_WEAKENED_LIST = re.compile(r"SECLEVEL=0|EXPORT|eNULL|(^|:)NULL|(^|:)ALL")


def postfix_weakened_cipherlists(pf: PostfixConfig) -> list[str]:
    """The tls_*_cipherlist overrides that weaken Postfix's lists (@SECLEVEL=0, EXPORT, NULL, ALL)."""
    return [n for n in ("tls_high_cipherlist", "tls_medium_cipherlist", "tls_low_cipherlist", "tls_export_cipherlist")
            if n in pf.explicit and _WEAKENED_LIST.search(pf.explicit[n])]


def postfix_tls_enforced(pf: PostfixConfig, svc: MasterService | None) -> bool:
    """Whether smtpd applies the ``*_mandatory_*`` TLS settings: security level encrypt,
    or wrapper mode (465), or the legacy smtpd_enforce_tls (checked on Postfix 3.7: the
    mandatory exclusions apply on 465 in wrapper mode with level may, not on port 25)."""
    level = pf.effective("smtpd_tls_security_level", svc).strip().lower()
    if pf.effective("smtpd_tls_wrappermode", svc) == "yes":
        return True
    if level:
        return level == "encrypt"
    return pf.effective("smtpd_enforce_tls", svc) == "yes"


def postfix_cipher_params(pf: PostfixConfig, svc: MasterService | None) -> tuple[str, str]:
    """(grade parameter, exclusion parameter) smtpd applies for ``svc`` (besides smtpd_tls_exclude_ciphers)."""
    if postfix_tls_enforced(pf, svc):
        return "smtpd_tls_mandatory_ciphers", "smtpd_tls_mandatory_exclude_ciphers"
    return "smtpd_tls_ciphers", "smtpd_tls_exclude_ciphers"


def _postfix_cipher_set(facts: CheckFacts, pf: PostfixConfig, svc: MasterService) -> tuple[CipherSet | None, str]:
    """The suites ``svc`` accepts (TLS <= 1.2), graded; None with the reason when unknown.

    Postfix builds ``tls_<grade>_cipherlist`` followed by ``:!ITEM`` for every item of
    smtpd_tls_exclude_ciphers, of smtpd_tls_mandatory_exclude_ciphers where TLS is
    enforced, and aNULL when it asks for client certificates: the same set arithmetic here,
    over the server's own ``openssl ciphers -v`` expansions.
    """
    lists = facts.cipher_lists
    if lists is None:
        return None, "cipher lists not expanded (no openssl on the server, or not read)"
    enforced = postfix_tls_enforced(pf, svc)
    grade_param = "smtpd_tls_mandatory_ciphers" if enforced else "smtpd_tls_ciphers"
    grade = pf.effective(grade_param, svc).strip().lower() or "medium"
    base = pf.effective(f"tls_{grade}_cipherlist", svc).strip()
    items = tokens(pf.effective("smtpd_tls_exclude_ciphers", svc))
    if enforced:
        items += tokens(pf.effective("smtpd_tls_mandatory_exclude_ciphers", svc))
    if pf.effective("smtpd_tls_ask_ccert", svc) == "yes" or (enforced and pf.effective("smtpd_tls_req_ccert", svc) == "yes"):
        items.append("aNULL")
    if base not in lists:
        return None, f"tls_{grade}_cipherlist = {base} not expanded"
    excluded: set[str] = set()
    for item in items:
        if item not in lists:
            return None, f"exclusion {item} not expanded"
        excluded |= {c.name for c in lists[item]}
    graded = grade_ciphers([c for c in lists[base] if c.name not in excluded])
    summary = f"{grade_param} = {grade}" + (f", excluded: {', '.join(dict.fromkeys(items))}" if items else "")
    return graded, summary


@rule("tls.postfix_ciphers", "Postfix's cipher suites are good or sufficient", Area.TLS, Severity.MEDIUM,
      why="""Where passwords travel (465/587) Postfix should accept only cipher suites classed good
      or sufficient (NCSC-NL, as the scan grades them): no anonymous suites (no certificate, so a
      man in the middle could pose as the server to a careless client and read the password), no
      phase-out suites (no forward secrecy, 3DES), nothing insufficient. Port 25 is opportunistic
      TLS: anonymous and phase-out suites are normal there (any encryption beats the plain-text
      fallback), only broken ones count. '@SECLEVEL=0', EXPORT or NULL overrides are always wrong.""",
      reference="https://www.postfix.org/TLS_README.html#server_cipher",
      remedy="remove the tls_*_cipherlist overrides (postconf -X), keep smtpd_tls_ciphers = medium, and "
             "smtpd_tls_mandatory_exclude_ciphers = aNULL, kRSA, 3DES, DHE+CAMELLIA, DHE+ARIA (applies on 465 and on "
             "587 with smtpd_tls_security_level = encrypt; else -o smtpd_tls_exclude_ciphers=... on the service)",
      fix="tls.postfix_ciphers")
def postfix_ciphers(facts: CheckFacts, now) -> list[Verdict]:
    """No @SECLEVEL=0 / EXPORT / NULL / ALL in tls_*_cipherlist, no export/low/null grade; and
    per smtpd service the effective suites (expanded by the server's openssl) graded by the
    scan's policy (mailtui.core.tlsclass): port 25 lenient, 465/587 strict."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    pf = facts.postfix
    bad = [f"{n} = {pf.explicit[n]}" for n in postfix_weakened_cipherlists(pf)]
    for name in ("smtpd_tls_ciphers", "smtpd_tls_mandatory_ciphers"):
        if pf.get(name) in ("export", "low", "null"):
            bad.append(f"{name} = {pf.get(name)}")
    out: list[Verdict] = []
    if bad:
        out.append(Verdict(F, "weakened: " + "; ".join(bad), config=tuple(f"main.cf {b.split(' =')[0]}" for b in bad)))
    if facts.cipher_lists is None:  # not read, or no openssl on the server: the settings' text only
        return out or [Verdict(P, "no weakening overrides (suites not expanded on the server: graded by the "
                                  "settings' text only)", config=("main.cf smtpd_tls_ciphers",))]
    for svc in [*_smtp_services(pf), *_submission_services(pf)]:
        strict = svc.port != 25
        grade_param, exclude_param = postfix_cipher_params(pf, svc)
        where = (_where(pf, exclude_param, svc), _where(pf, grade_param, svc))
        graded, summary = _postfix_cipher_set(facts, pf, svc)
        if graded is None:
            out.append(Verdict(I, f"effective suites unknown: {summary}", _port_target(svc), where))
            continue
        verdict = graded.verdict(strict)
        evidence = f"{verdict.title}: {graded.describe()} ({summary})"
        out.append(Verdict(verdict.status, evidence, _port_target(svc), where,
                           severity=verdict.severity if verdict.status in (F, W) else None))
    if not out:
        return [Verdict(P, "Postfix's own cipher lists (no weakening overrides)", config=("main.cf smtpd_tls_ciphers",))]
    return out


def _certs_in_use(facts: CheckFacts):
    return [c for c in facts.certs if c.service in ("postfix", "dovecot")]


def _leaf(cert_file):
    return cert_file.certs[0] if cert_file.certs else None


def _cert_target(cert_file) -> str:
    return f"{cert_file.service} {cert_file.path}"


def _no_certs(facts: CheckFacts) -> list[Verdict] | None:
    if not _certs_in_use(facts):
        return [Verdict(I, "no certificate file found in the Postfix or Dovecot configuration")]
    return None


@rule("tls.cert_expiry", "Certificates not expired or about to expire", Area.TLS, Severity.HIGH,
      why="""An expired certificate makes mail programs refuse to connect and other servers fall
      back to plain text (or refuse, with DANE/MTA-STS). Renew well before the end date.""",
      reference="https://letsencrypt.org/docs/integration-guide/",
      remedy="renew the certificate (certbot renew) and reload Postfix and Dovecot")
def cert_expiry(facts: CheckFacts, now: _dt.datetime) -> list[Verdict]:
    """The leaf certificate of each file in use: FAIL expired or < 14 days, WARN < 30 days."""
    if (skip := _no_certs(facts)) is not None:
        return skip
    out = []
    for cf in _certs_in_use(facts):
        leaf = _leaf(cf)
        config = (f"{cf.service} certificate {cf.path}",)
        if leaf is None:
            out.append(Verdict(E, "no certificate could be read from the file" if cf.readable else "file unreadable",
                               _cert_target(cf), config))
            continue
        days = (leaf.not_after - now).total_seconds() / 86400
        ends = leaf.not_after.strftime("%Y-%m-%d")
        if days < 0:
            out.append(Verdict(F, f"expired on {ends}", _cert_target(cf), config, severity=Severity.CRITICAL))
        elif days < 14:
            out.append(Verdict(F, f"expires on {ends} ({days:.0f} days left)", _cert_target(cf), config))
        elif days < 30:
            out.append(Verdict(W, f"expires on {ends} ({days:.0f} days left)", _cert_target(cf), config))
        else:
            out.append(Verdict(P, f"valid until {ends} ({days:.0f} days left)", _cert_target(cf), config))
    return out


@rule("tls.cert_self_signed", "Certificates not self-signed", Area.TLS, Severity.HIGH,
      why="""A self-signed certificate trains users to click through warnings and gives other
      servers nothing to verify. Free, trusted certificates exist (Let's Encrypt).""",
      reference="https://letsencrypt.org/getting-started/",
      remedy="use a certificate from a public CA (certbot certonly ...)")
def cert_self_signed(facts: CheckFacts, now) -> list[Verdict]:
    """The leaf's issuer differs from its subject."""
    if (skip := _no_certs(facts)) is not None:
        return skip
    out = []
    for cf in _certs_in_use(facts):
        leaf = _leaf(cf)
        if leaf is None:
            continue
        if leaf.self_signed:
            out.append(Verdict(F, f"self-signed: {leaf.subject}", _cert_target(cf)))
        else:
            out.append(Verdict(P, f"issued by {leaf.issuer}", _cert_target(cf)))
    return out or [Verdict(E, "no certificate could be read")]


def _name_matches(host: str, names: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for name in names:
        name = name.lower().rstrip(".")
        if name == host or (name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]):
            return True
    return False


@rule("tls.cert_hostname", "Certificates match the server's name", Area.TLS, Severity.MEDIUM,
      why="""Mail programs check that the certificate names the host they connect to. A
      mismatch gives users a warning (or a refusal) and breaks DANE/MTA-STS for other
      servers.""",
      reference="https://www.rfc-editor.org/rfc/rfc6125",
      remedy="get a certificate whose names include myhostname (and Dovecot's hostname)")
def cert_hostname(facts: CheckFacts, now) -> list[Verdict]:
    """The leaf's DNS names cover Postfix myhostname (Postfix cert) / Dovecot hostname or myhostname."""
    if (skip := _no_certs(facts)) is not None:
        return skip
    out = []
    host = facts.postfix.get("myhostname") if facts.postfix else ""
    for cf in _certs_in_use(facts):
        leaf = _leaf(cf)
        if leaf is None:
            continue
        name = host
        if cf.service == "dovecot" and facts.dovecot is not None:
            name = facts.dovecot.settings.get("hostname") or host
        if not name:
            out.append(Verdict(I, "server name unknown", _cert_target(cf)))
        elif _name_matches(name, leaf.names):
            out.append(Verdict(P, f"{name} is in {', '.join(leaf.names)}", _cert_target(cf)))
        else:
            out.append(Verdict(F, f"{name} is not in the certificate's names ({', '.join(leaf.names) or 'none'})",
                               _cert_target(cf)))
    return out or [Verdict(E, "no certificate could be read")]


@rule("tls.cert_key_match", "Certificate and private key belong together", Area.TLS, Severity.CRITICAL,
      why="""If the key file does not match the certificate (a renewal replaced one but not the
      other), every TLS handshake fails: no encrypted mail, no mail program can connect.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_chain_files",
      remedy="point the key setting at the key that was issued with this certificate")
def cert_key_match(facts: CheckFacts, now) -> list[Verdict]:
    """The SHA-256 of the private key's public half equals the leaf's public key hash."""
    if (skip := _no_certs(facts)) is not None:
        return skip
    out = []
    for cf in _certs_in_use(facts):
        leaf = _leaf(cf)
        if leaf is None:
            continue
        if cf.key_hash is None:
            out.append(Verdict(E, f"private key {cf.key_path or '?'} not readable (needs root)", _cert_target(cf)))
        elif cf.key_hash == leaf.pubkey_hash:
            out.append(Verdict(P, f"key {cf.key_path} matches", _cert_target(cf)))
        else:
            out.append(Verdict(F, f"key {cf.key_path} does not match the certificate", _cert_target(cf)))
    return out or [Verdict(E, "no certificate could be read")]


@rule("tls.cert_chain", "Certificate files carry the intermediate chain", Area.TLS, Severity.MEDIUM,
      why="""Servers must send their certificate plus the intermediate that signed it (not the
      root). With the intermediate missing, many clients cannot verify and refuse or fall
      back to plain text.""",
      reference="https://www.postfix.org/postconf.5.html#smtpd_tls_cert_file",
      remedy="use the fullchain file (certbot: fullchain.pem), not cert.pem")
def cert_chain(facts: CheckFacts, now) -> list[Verdict]:
    """Each cert in the file is signed by the next (issuer == next subject); a CA-signed leaf
    alone is WARN (intermediate missing); a root in the file is WARN."""
    if (skip := _no_certs(facts)) is not None:
        return skip
    out = []
    for cf in _certs_in_use(facts):
        if not cf.certs:
            continue
        leaf = cf.certs[0]
        if leaf.self_signed:
            out.append(Verdict(I, "self-signed: no chain (see tls.cert_self_signed)", _cert_target(cf)))
            continue
        if len(cf.certs) == 1:
            out.append(Verdict(W, f"only the leaf; the intermediate ({leaf.issuer}) is missing", _cert_target(cf)))
            continue
        broken = [i for i in range(len(cf.certs) - 1) if cf.certs[i].issuer != cf.certs[i + 1].subject]
        if broken:
            out.append(Verdict(F, f"certificate {broken[0] + 1} is not signed by the next one in the file",
                               _cert_target(cf)))
        elif cf.certs[-1].self_signed:
            out.append(Verdict(W, "the root is sent too (harmless but useless: clients must have it already)",
                               _cert_target(cf)))
        else:
            out.append(Verdict(P, f"leaf + {len(cf.certs) - 1} intermediate(s), in order", _cert_target(cf)))
    return out or [Verdict(E, "no certificate could be read")]


@rule("tls.renewal_reload", "Certificate renewal reloads Postfix and Dovecot", Area.TLS, Severity.MEDIUM,
      why="""Most 'expired certificate' incidents are a certificate that was renewed on disk but
      never loaded: Postfix and Dovecot keep the old one in memory until reloaded. A certbot
      deploy hook that reloads both prevents it.""",
      reference="https://eff-certbot.readthedocs.io/en/stable/using.html#renewing-certificates",
      remedy="""/etc/letsencrypt/renewal-hooks/deploy/reload-mail: 'postfix reload; doveadm reload'
      (chmod +x)""")
def renewal_reload(facts: CheckFacts, now) -> list[Verdict]:
    """When certbot is present, a deploy/post/renew hook names both postfix and dovecot."""
    if facts.certbot is None:
        return [Verdict(I, "certbot not found: make sure whatever renews your certificates reloads "
                        "Postfix and Dovecot afterwards")]
    text = " ".join(facts.certbot)
    need = [s for s in ("postfix", "dovecot") if (s != "dovecot" or facts.dovecot is not None) and s not in text]
    if need:
        return [Verdict(F, f"no renewal hook reloads {' and '.join(need)}", config=("/etc/letsencrypt/renewal-hooks",))]
    return [Verdict(P, "a certbot hook reloads the mail services", config=("/etc/letsencrypt/renewal-hooks",))]


def _dovecot_min_protocol(dc: DovecotConfig) -> tuple[str, str] | None:
    return dc.first("ssl_min_protocol", "ssl_server_min_protocol")


@rule("tls.dovecot_protocols", "No SSLv3/TLS 1.0/1.1 for IMAP/POP3", Area.TLS, Severity.HIGH,
      why="""Mail programs send passwords over IMAP and POP3 many times a day. Only TLS 1.2 and
      1.3 should be accepted.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-ssl_min_protocol",
      remedy="ssl_min_protocol = TLSv1.2 (Dovecot 2.4: ssl_min_protocol / ssl_server_min_protocol)",
      fix="tls.dovecot_protocols")
def dovecot_protocols(facts: CheckFacts, now) -> list[Verdict]:
    """Dovecot's effective ssl_min_protocol is TLSv1.2 or later."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    found = _dovecot_min_protocol(facts.dovecot)
    if found is None:
        return [Verdict(E, "ssl_min_protocol not found in doveconf output")]
    name, value = found
    ok = value in ("TLSv1.2", "TLSv1.3", "ANY") and value != "ANY"
    return [Verdict(P if ok else F, f"{name} = {value}", config=(f"dovecot {name}",))]


@rule("tls.dovecot_ciphers", "Dovecot's cipher suites are good or sufficient", Area.TLS, Severity.MEDIUM,
      why="""Mail programs log in over IMAP and POP3 many times a day: Dovecot should accept only
      cipher suites classed good or sufficient (NCSC-NL, as the scan grades them). Anonymous
      suites let a man in the middle pose as the server; phase-out suites (no forward secrecy,
      3DES, DHE with ARIA/CAMELLIA) are on their way out; '@SECLEVEL=0', EXPORT, NULL or LOW
      re-enable broken encryption.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-ssl_cipher_list",
      remedy=f"ssl_cipher_list = {STRICT_CIPHER_LIST} (Mozilla intermediate)", fix="tls.dovecot_ciphers")
def dovecot_ciphers(facts: CheckFacts, now) -> list[Verdict]:
    """ssl_cipher_list has no @SECLEVEL=0 and does not enable EXPORT/NULL/LOW; its expansion
    by the server's openssl graded by the scan's strict policy (mailtui.core.tlsclass)."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    found = facts.dovecot.first("ssl_cipher_list", "ssl_server_cipher_list")
    if found is None:
        return [Verdict(I, "no cipher list setting in this Dovecot version")]
    name, value = found
    config = (f"dovecot {name}",)
    bad = re.search(r"SECLEVEL=0|(^|:)\+?(EXPORT|eNULL|NULL|LOW)(:|$)|^ALL(:|$)(?!.*!aNULL)", value)
    if bad:
        return [Verdict(F, f"{name} = {value}", config=config)]
    expanded = (facts.cipher_lists or {}).get(value.strip())
    if expanded is None:
        return [Verdict(P, f"{name} = {value} (not expanded on the server: graded by its text only)", config=config)]
    graded = grade_ciphers(expanded)
    verdict = graded.verdict(True)
    return [Verdict(verdict.status, f"{verdict.title}: {graded.describe()} ({name} = {value})", config=config,
                    severity=verdict.severity if verdict.status in (F, W) else None)]


# ======================================================================= IMAP/POP
@rule("imap.ssl_required", "Dovecot requires TLS (ssl = required)", Area.IMAP, Severity.HIGH,
      why="""With ssl = yes, TLS is only offered: mail programs may still log in over plain IMAP/
      POP3 and send the password in the clear. ssl = required refuses that.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-ssl",
      remedy="ssl = required", fix="imap.ssl_required")
def ssl_required(facts: CheckFacts, now) -> list[Verdict]:
    """Dovecot's effective ``ssl`` is ``required``."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    value = facts.dovecot.settings.get("ssl", "")
    return [Verdict(P if value == "required" else F, f"ssl = {value or '(unset)'}", config=("dovecot ssl",))]


def _cleartext_allowed(dc: DovecotConfig) -> tuple[bool, str]:
    if "auth_allow_cleartext" in dc.settings:
        value = dc.settings["auth_allow_cleartext"]
        return value == "yes", f"auth_allow_cleartext = {value}"
    value = dc.settings.get("disable_plaintext_auth", "yes")
    return value != "yes", f"disable_plaintext_auth = {value}"


@rule("imap.plaintext_auth", "No password login without TLS", Area.IMAP, Severity.HIGH,
      why="""Dovecot can allow logins on connections that are not encrypted. Anyone on the path
      (a café Wi-Fi, a compromised router) then reads the passwords.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-disable_plaintext_auth",
      remedy="disable_plaintext_auth = yes (Dovecot 2.4: auth_allow_cleartext = no)",
      fix="imap.plaintext_auth")
def plaintext_auth(facts: CheckFacts, now) -> list[Verdict]:
    """2.3 ``disable_plaintext_auth = yes`` / 2.4 ``auth_allow_cleartext = no``."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    allowed, text = _cleartext_allowed(facts.dovecot)
    return [Verdict(F if allowed else P, text, config=(f"dovecot {text.split(' =')[0]}",))]


@rule("imap.plaintext_listeners", "No plaintext IMAP/POP3 login exposed", Area.IMAP, Severity.HIGH,
      why="""Ports 143 and 110 are plain text until STARTTLS. If they listen and Dovecot lets
      clients log in without TLS there, passwords cross the network readable.""",
      reference="https://www.rfc-editor.org/rfc/rfc8314",
      remedy="ssl = required and disable_plaintext_auth = yes, or remove the imap/pop3 inet_listener (port = 0)",
      fix="imap.ssl_required")
def plaintext_listeners(facts: CheckFacts, now) -> list[Verdict]:
    """When Dovecot listens on 143/110, ssl = required or cleartext auth is off."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    if facts.listeners is None:
        return [Verdict(E, "listening sockets unknown")]
    plain = sorted({l.port for l in _listening(facts, {143, 110}) if not l.processes or "dovecot" in l.processes})
    if not plain:
        return [Verdict(P, "no plaintext IMAP/POP3 port listening")]
    allowed, text = _cleartext_allowed(facts.dovecot)
    ssl = facts.dovecot.settings.get("ssl", "")
    ports = ", ".join(str(p) for p in plain)
    if ssl != "required" and allowed:
        return [Verdict(F, f"ports {ports} listen and accept passwords without TLS (ssl = {ssl}, {text})",
                        config=("dovecot ssl", f"dovecot {text.split(' =')[0]}"))]
    return [Verdict(P, f"ports {ports} listen but require TLS before login (ssl = {ssl}, {text})",
                    config=("dovecot ssl",))]


@rule("imap.login_greeting", "IMAP/POP3 greeting does not name the software", Area.IMAP, Severity.LOW,
      why="""Dovecot greets every client with 'Dovecot ready.' (Debian: 'Dovecot (Debian)
      ready.'): it tells scanners what to attack. A neutral greeting costs nothing.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-login_greeting",
      remedy="login_greeting = Mail server ready.", fix="imap.login_greeting")
def login_greeting(facts: CheckFacts, now) -> list[Verdict]:
    """login_greeting does not contain 'Dovecot', a distribution name or a version."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    value = facts.dovecot.settings.get("login_greeting", "Dovecot ready.")
    bad = re.search(r"dovecot|debian|ubuntu|\d+\.\d+", value, re.I)
    return [Verdict(F if bad else P, f"login_greeting = {value}", config=("dovecot login_greeting",))]


@rule("imap.auth_failure_delay", "Failed logins are slowed down", Area.IMAP, Severity.LOW,
      why="""A delay after each wrong password makes guessing slow. Dovecot's default (2 s) is
      good; 0 lets a bot try passwords as fast as the network allows.""",
      reference="https://doc.dovecot.org/settings/core/#core_setting-auth_failure_delay",
      remedy="auth_failure_delay = 2 secs")
def auth_failure_delay(facts: CheckFacts, now) -> list[Verdict]:
    """auth_failure_delay is at least 1 second."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    value = facts.dovecot.settings.get("auth_failure_delay", "2 secs")
    match = re.match(r"(\d+)\s*(ms|msec|msecs|s|sec|secs|seconds?|m|mins?)?", value)
    seconds = 2.0
    if match:
        n, unit = int(match.group(1)), (match.group(2) or "s")
        seconds = n / 1000 if unit.startswith("ms") else n * 60 if unit.startswith("m") else n
    return [Verdict(P if seconds >= 1 else F, f"auth_failure_delay = {value}", config=("dovecot auth_failure_delay",))]


_WEAK_SCHEMES = ("PLAIN", "CLEARTEXT", "CRAM-MD5", "PLAIN-MD5", "LDAP-MD5", "MD5", "DIGEST-MD5", "SHA", "SHA1",
                 "PLAIN-TRUNC", "HMAC-MD5", "LANMAN", "NTLM", "RPA", "SMD5", "SSHA")


@rule("imap.password_scheme", "Passwords stored with a strong hash", Area.IMAP, Severity.MEDIUM,
      why="""If the password database is stolen, plain or MD5/SHA1-hashed passwords are
      readable at once. Use SHA512-CRYPT, BLF-CRYPT or ARGON2; mechanisms like CRAM-MD5 need the
      plain password stored and are a sign of it.""",
      reference="https://doc.dovecot.org/configuration_manual/authentication/password_schemes/",
      remedy="default_pass_scheme = SHA512-CRYPT (or ARGON2ID), rehash users; drop cram-md5/digest-md5 from auth_mechanisms")
def password_scheme(facts: CheckFacts, now) -> list[Verdict]:
    """No weak scheme in default_pass_scheme or a passdb's ``scheme=`` arg; no cram-md5/
    digest-md5 in auth_mechanisms."""
    if (skip := _no_dovecot(facts)) is not None:
        return skip
    dc = facts.dovecot
    bad = []
    found = dc.first("default_pass_scheme", "passdb_default_password_scheme")
    schemes = []
    if found:
        schemes.append((found[0], found[1]))
    for match in re.finditer(r"scheme=(\S+)", " ".join(dc.explicit.values()) + " " + dc.settings.get("_passdb", "")):
        schemes.append(("passdb scheme", match.group(1)))
    for name, scheme in schemes:
        if scheme.upper() in _WEAK_SCHEMES:
            bad.append(f"{name} = {scheme}")
    mechs = dc.settings.get("auth_mechanisms", "")
    for mech in ("cram-md5", "digest-md5"):
        if mech in mechs.lower().split():
            bad.append(f"auth_mechanisms includes {mech}")
    if bad:
        return [Verdict(F, "; ".join(bad), config=("dovecot passdb",))]
    shown = ", ".join(f"{n} = {s}" for n, s in schemes) or "default scheme"
    return [Verdict(P, shown, config=("dovecot passdb",))]


# ============================================================================ SSH
def _weak_matches(inst: SshdInstance, weak: dict[str, object]) -> list[tuple[SshdMatch, SshdSetting]]:
    """Match blocks setting one of ``weak``'s keywords (lower case) to a value its predicate
    calls weak: ``sshd -T`` without ``-C`` shows only the global value, so these are unseen."""
    found = []
    for keyword, is_weak in weak.items():
        for block, setting in inst.match_settings(keyword):
            if is_weak(setting.value.lower()):
                found.append((block, setting))
    return sorted(found, key=lambda bs: (inst.files.index(bs[1].file) if bs[1].file in inst.files else 99,
                                         bs[1].line))


def _match_evidence(block: SshdMatch, setting: SshdSetting) -> str:
    return f"{setting.file}:{setting.line} Match {block.criteria_text} \u2192 {setting.keyword} {setting.value}"


def _ssh_check(facts: CheckFacts, judge, weak: dict[str, object] | None = None, who: str = "") -> list[Verdict]:
    """One verdict per running sshd. ``weak``: keyword -> predicate of a weak value; a Match
    block setting one makes a passing global value FAIL (criteria match everyone) or WARN."""
    if (skip := _no_sshd(facts)) is not None:
        return skip
    out = []
    for inst in _sshd_targets(facts):
        if inst.error:
            out.append(Verdict(E, f"sshd -T failed: {inst.error}", _sshd_label(inst)))
            continue
        status, evidence, key = judge(inst)
        config = (f"{inst.config} {key}",)
        found = _weak_matches(inst, weak or {})
        if not found:
            out.append(Verdict(status, evidence, _sshd_label(inst), config))
            continue
        everyone = any(block.everyone for block, _ in found)
        if status == P:
            status = F if everyone else W
        shown = "; ".join(_match_evidence(b, s) for b, s in found)
        detail = (f"sshd -T shows only the global value, but a Match block overrides it: {who or 'those clients'} "
                  f"for the connections it matches ({shown}). "
                  + ("Its criteria match every connection. " if everyone else "")
                  + "A fix that sets the global value does not change a Match block: edit or remove the "
                  "setting inside the Match block by hand, then reload sshd.")
        out.append(Verdict(status, f"{evidence} globally, but {shown}", _sshd_label(inst),
                           config + tuple(f"{s.file}:{s.line}" for _, s in found), detail))
    return out


def _is_yes(value: str) -> bool:
    return value == "yes"


@rule("ssh.password_auth", "SSH: no password logins", Area.SSH, Severity.HIGH,
      why="""SSH servers on the internet get thousands of password guesses a day. With keys
      only, a guessed or leaked password opens nothing.""",
      reference=SSHD_REF + "#PasswordAuthentication",
      remedy="PasswordAuthentication no and KbdInteractiveAuthentication no (after installing your key!)",
      fix="ssh.password_auth")
def ssh_password_auth(facts: CheckFacts, now) -> list[Verdict]:
    """sshd -T: passwordauthentication no, and kbdinteractiveauthentication no when usepam yes."""
    def judge(inst: SshdInstance):
        pw = inst.get("passwordauthentication")
        kbd = inst.get("kbdinteractiveauthentication") or inst.get("challengeresponseauthentication")
        if pw == "yes":
            return F, "passwordauthentication yes", "PasswordAuthentication"
        if kbd == "yes" and inst.get("usepam") == "yes":
            return F, "kbdinteractiveauthentication yes with usepam yes (passwords through PAM)", \
                "KbdInteractiveAuthentication"
        return P, f"passwordauthentication {pw}", "PasswordAuthentication"
    weak: dict[str, object] = {"passwordauthentication": _is_yes}
    if any(i.get("usepam") == "yes" for i in facts.sshd):  # UsePAM is global only
        weak.update(kbdinteractiveauthentication=_is_yes, challengeresponseauthentication=_is_yes)
    return _ssh_check(facts, judge, weak, "those clients still get password logins")


@rule("ssh.root_login", "SSH: root cannot log in with a password", Area.SSH, Severity.HIGH,
      why="""'root' exists on every server, so guessers only need the password. Log in as
      yourself and use sudo; if root must log in, only with a key.""",
      reference=SSHD_REF + "#PermitRootLogin",
      remedy="PermitRootLogin no (or prohibit-password)", fix="ssh.root_login")
def ssh_root_login(facts: CheckFacts, now) -> list[Verdict]:
    """sshd -T: permitrootlogin is not ``yes``."""
    def judge(inst: SshdInstance):
        value = inst.get("permitrootlogin")
        return (F if value == "yes" else P), f"permitrootlogin {value}", "PermitRootLogin"
    return _ssh_check(facts, judge, {"permitrootlogin": _is_yes}, "those clients can still log in as root with a password")


@rule("ssh.max_auth_tries", "SSH: few attempts per connection", Area.SSH, Severity.LOW,
      why="""MaxAuthTries limits guesses per connection; the default 6 lets a bot try more per
      connection than fail2ban counts. 3 is plenty for people with keys.""",
      reference=SSHD_REF + "#MaxAuthTries",
      remedy="MaxAuthTries 3", fix="ssh.max_auth_tries")
def ssh_max_auth_tries(facts: CheckFacts, now) -> list[Verdict]:
    """sshd -T: maxauthtries <= 4."""
    def judge(inst: SshdInstance):
        value = inst.get("maxauthtries", "6")
        ok = value.isdigit() and int(value) <= 4
        return (P if ok else F), f"maxauthtries {value}", "MaxAuthTries"
    return _ssh_check(facts, judge, {"maxauthtries": lambda v: not (v.isdigit() and int(v) <= 4)},
                      "those clients still get more guesses per connection")


@rule("ssh.empty_passwords", "SSH: no empty passwords", Area.SSH, Severity.CRITICAL,
      why="""With PermitEmptyPasswords yes an account without a password can log in with
      nothing at all.""",
      reference=SSHD_REF + "#PermitEmptyPasswords",
      remedy="PermitEmptyPasswords no")
def ssh_empty_passwords(facts: CheckFacts, now) -> list[Verdict]:
    """sshd -T: permitemptypasswords no."""
    def judge(inst: SshdInstance):
        value = inst.get("permitemptypasswords", "no")
        return (F if value == "yes" else P), f"permitemptypasswords {value}", "PermitEmptyPasswords"
    return _ssh_check(facts, judge, {"permitemptypasswords": _is_yes},
                      "those clients can still log in to accounts without a password")


_WEAK_SSH = re.compile(r"(^|,)([^,]*-cbc|arcfour[^,]*|3des[^,]*|hmac-md5[^,]*|hmac-sha1-96[^,]*|"
                       r"diffie-hellman-group1-sha1|diffie-hellman-group14-sha1|diffie-hellman-group-exchange-sha1)(?=,|$)")


@rule("ssh.weak_algorithms", "SSH: no weak ciphers, MACs or key exchanges", Area.SSH, Severity.MEDIUM,
      why="""CBC ciphers, MD5/SHA1 MACs and SHA1 key exchanges have known weaknesses. Modern
      OpenSSH disables them by default; old config files sometimes turn them back on.""",
      reference="https://www.ssh-audit.com/hardening_guides.html",
      remedy="remove the Ciphers/MACs/KexAlgorithms lines that add them (OpenSSH's defaults are good)")
def ssh_weak_algorithms(facts: CheckFacts, now) -> list[Verdict]:
    """sshd -T ciphers/macs/kexalgorithms contain no CBC, arcfour, 3DES, MD5/SHA1 MAC, SHA1 kex."""
    def judge(inst: SshdInstance):
        bad = []
        for key in ("ciphers", "macs", "kexalgorithms"):
            bad += [m.group(2) for m in _WEAK_SSH.finditer(inst.get(key))]
        if bad:
            return F, "weak: " + ", ".join(bad[:6]), "Ciphers/MACs/KexAlgorithms"
        return P, "only modern algorithms", "Ciphers/MACs/KexAlgorithms"
    return _ssh_check(facts, judge)


# ============================================================ firewall & exposure
def _firewall_filters(facts: CheckFacts) -> tuple[bool, str]:
    """Whether a firewall filters incoming traffic (a drop/reject policy or rules)."""
    fw = facts.firewall
    if fw is None:
        return False, "firewall rules unknown"
    if fw.ufw and re.search(r"Status:\s*active", fw.ufw):
        return True, "ufw active"
    if fw.nft:
        for chain in re.finditer(r"chain (\S+) \{\s*type filter hook input[^;]*;\s*policy (\w+);(.*?)\n\t\}",
                                 fw.nft, re.S):
            name, policy, body = chain.groups()
            if name.startswith("f2b") or "addr-set" in body and policy == "accept" and "drop" not in body.replace("@", ""):
                continue
            if policy == "drop" or re.search(r"\b(drop|reject)\b", body):
                return True, f"nftables chain {name} (policy {policy})"
    if fw.iptables:
        if re.search(r"^-P INPUT (DROP|REJECT)", fw.iptables, re.M):
            return True, "iptables INPUT policy drop"
        if re.search(r"^-A INPUT .*-j (DROP|REJECT)", fw.iptables, re.M):
            return True, "iptables INPUT has drop/reject rules"
    return False, "no input filtering (only fail2ban's ban sets, or nothing)"


@rule("exposure.firewall", "A firewall filters incoming connections", Area.EXPOSURE, Severity.MEDIUM,
      why="""Without a firewall every service that listens on a public address is reachable,
      including ones you forgot. Allow only mail, IMAP/POP and SSH; drop the rest.""",
      reference="https://wiki.debian.org/nftables",
      remedy="an nftables/ufw policy that drops input except 22, 25, 465, 587, 993, 995 (and 143/110 if used)")
def firewall_active(facts: CheckFacts, now) -> list[Verdict]:
    """An nft input chain with drop policy/rules, an iptables INPUT drop, or ufw active."""
    if facts.firewall is None:
        return [Verdict(E, facts.problems.get("root", "firewall rules unknown"))]
    ok, how = _firewall_filters(facts)
    return [Verdict(P if ok else W, how)]


_JAIL_NEEDS = {
    "postfix": (("postfix",), "Postfix (relay probes, scanners)"),
    "postfix-sasl": (("postfix-sasl", "sasl"), "SMTP password guessing"),
    "dovecot": (("dovecot",), "IMAP/POP3 password guessing"),
    "sshd": (("sshd", "ssh"), "SSH password guessing"),
}


@rule("exposure.fail2ban_jails", "fail2ban jails for Postfix, SASL, Dovecot and SSH", Area.EXPOSURE,
      Severity.MEDIUM,
      why="""Bots guess passwords on SMTP, IMAP and SSH around the clock. fail2ban (or an
      equivalent) bans an address after a few failures, which stops most of them and keeps
      your logs readable.""",
      reference="https://github.com/fail2ban/fail2ban/blob/master/config/jail.conf",
      remedy="apt install fail2ban; enable [postfix], [postfix-sasl], [dovecot] and [sshd] in jail.d/*.local")
def fail2ban_jails(facts: CheckFacts, now) -> list[Verdict]:
    """fail2ban runs with jails for postfix, postfix-sasl (or sasl), dovecot and sshd."""
    f2b = facts.fail2ban
    if f2b is None:
        return [Verdict(F, "fail2ban is not installed" if "root" not in facts.problems else facts.problems["root"])]
    if not f2b.running:
        return [Verdict(F, "fail2ban is installed but not running")]
    missing = [label for key, (names, label) in _JAIL_NEEDS.items()
               if not any(n in f2b.jails for n in names)
               and not (key == "dovecot" and facts.dovecot is None)
               and not (key.startswith("postfix") and facts.postfix is None)]
    if missing:
        return [Verdict(F, f"jails: {', '.join(f2b.jails) or 'none'}; missing: {', '.join(missing)}")]
    return [Verdict(P, f"jails: {', '.join(f2b.jails)}")]


_PORT_NAMES = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "imap": 143, "imap2": 143,
               "imaps": 993, "pop3": 110, "pop3s": 995, "ssh": 22, "sieve": 4190}


def _ports_of(values: tuple[str, ...]) -> set[int] | None:
    ports: set[int] = set()
    for value in values:
        if value in ("0:65535", "1:65535", "all"):
            return None  # every port
        if ":" in value and all(p.isdigit() for p in value.split(":", 1)):
            lo, hi = (int(p) for p in value.split(":", 1))
            ports.update(range(lo, hi + 1))
        elif value.isdigit():
            ports.add(int(value))
        elif value in _PORT_NAMES:
            ports.add(_PORT_NAMES[value])
    return ports


@rule("exposure.fail2ban_ports", "fail2ban jails cover every listening port", Area.EXPOSURE, Severity.MEDIUM,
      why="""A jail bans only the ports it names. Move SSH to 2222 or add port 465 and the old
      jail keeps 'banning' - on ports nobody attacks any more - while the guessing goes on.""",
      reference="https://fail2ban.readthedocs.io/",
      remedy="set port = ... in each jail to the ports that service really listens on")
def fail2ban_ports(facts: CheckFacts, now) -> list[Verdict]:
    """Each mail/IMAP/SSH port that listens is in the port list of its jail."""
    f2b = facts.fail2ban
    if f2b is None or not f2b.running or facts.listeners is None:
        return [Verdict(I, "not checked: fail2ban not running or listeners unknown")]
    wanted = {"postfix": {25, 465, 587}, "dovecot": {143, 993, 110, 995}}
    wanted["sshd"] = {p for inst in facts.sshd for p in inst.ports} or {22}
    listening = {l.port for l in facts.listeners}
    gaps = []
    for jail, ports in wanted.items():
        names = _JAIL_NEEDS[jail][0]
        jail_name = next((n for n in names if n in f2b.jails), None)
        if jail_name is None:
            continue
        covered = _ports_of(f2b.ports.get(jail_name, ()))
        if covered is None:
            continue
        if not f2b.ports.get(jail_name):
            gaps.append(f"{jail_name}: ports unknown")
            continue
        missing = sorted((ports & listening) - covered)
        if missing:
            gaps.append(f"{jail_name} does not cover {', '.join(map(str, missing))}")
    if gaps:
        return [Verdict(F, "; ".join(gaps))]
    return [Verdict(P, "; ".join(f"{j}: {','.join(p)}" for j, p in sorted(f2b.ports.items())))]


_ADMIN_PORTS = {8443: "Plesk", 8880: "Plesk (http)", 10000: "Webmin", 3306: "MySQL/MariaDB", 5432: "PostgreSQL",
                6379: "Redis", 11211: "memcached", 2083: "cPanel", 2087: "WHM", 2222: "DirectAdmin",
                8080: "ISPConfig/admin web", 8081: "admin web", 27017: "MongoDB", 9000: "PHP-FPM/Portainer",
                5984: "CouchDB", 9200: "Elasticsearch", 8983: "Solr", 11334: "rspamd web UI"}


@rule("exposure.admin_ports", "Admin and database ports not open to the world", Area.EXPOSURE, Severity.HIGH,
      why="""Control panels (Plesk, Webmin), databases and caches are favourite targets. Bind
      them to localhost and reach them through an SSH tunnel, or allow only your own addresses
      in the firewall.""",
      reference="https://www.cisa.gov/news-events/news/securing-network-infrastructure-devices",
      remedy="bind to 127.0.0.1 (e.g. MySQL bind-address) and use ssh -L, or firewall to an allow-list")
def admin_ports(facts: CheckFacts, now) -> list[Verdict]:
    """No admin/database port (except sshd) listens on a public address; WARN when a
    firewall might restrict it (not proven from the inside)."""
    if facts.listeners is None:
        return [Verdict(E, "listening sockets unknown")]
    exposed = []
    for l in facts.listeners:
        if l.port in _ADMIN_PORTS and _public(l.address) and "sshd" not in l.processes:
            exposed.append(f"{_ADMIN_PORTS[l.port]} on {l.address}:{l.port}")
    if not exposed:
        return [Verdict(P, "no admin or database port on a public address")]
    filtered, how = _firewall_filters(facts)
    if filtered:
        return [Verdict(W, f"listening publicly: {'; '.join(exposed)} (a firewall exists: {how}; "
                        "check it limits these)")]
    return [Verdict(F, f"open to the world: {'; '.join(exposed)}")]


# ========================================================================= system
@rule("system.security_updates", "Security updates installed", Area.SYSTEM, Severity.HIGH,
      why="""Most break-ins use holes that already have a fix. Pending security updates mean
      the server is exposed to known attacks.""",
      reference="https://www.debian.org/doc/manuals/securing-debian-manual/security-update.en.html",
      remedy="apt update && apt upgrade (or dnf upgrade --security)")
def security_updates(facts: CheckFacts, now) -> list[Verdict]:
    """Pending upgrades from the package lists already on the server (no network)."""
    up = facts.updates
    if up is None:
        return [Verdict(I, "no apt or dnf found, or the package lists could not be read")]
    sample = ", ".join(up.sample)
    if up.security:
        return [Verdict(F, f"{up.security} security update(s) pending (of {up.pending}): {sample}")]
    if up.pending:
        return [Verdict(W, f"{up.pending} update(s) pending, none marked security: {sample}",
                        severity=Severity.LOW)]
    return [Verdict(P, "no pending updates (as of the last package list refresh)")]


@rule("system.unattended_upgrades", "Security updates install automatically", Area.SYSTEM, Severity.MEDIUM,
      why="""A small server is rarely patched by hand on the day a fix comes out. Automatic
      security updates close that gap.""",
      reference="https://wiki.debian.org/UnattendedUpgrades",
      remedy="apt install unattended-upgrades; dpkg-reconfigure -plow unattended-upgrades (RHEL: dnf-automatic)")
def unattended_upgrades(facts: CheckFacts, now) -> list[Verdict]:
    """unattended-upgrades installed with APT::Periodic::Unattended-Upgrade "1", or dnf-automatic enabled."""
    lines = facts.unattended
    if lines is None:
        return [Verdict(E, "not checked")]
    text = "\n".join(lines)
    if "enabled dnf-automatic" in text:
        return [Verdict(P, "dnf-automatic timer enabled")]
    installed = "install ok installed" in text
    periodic = re.search(r'Unattended-Upgrade "(\d+)"', text)
    if installed and periodic and periodic.group(1) != "0":
        return [Verdict(P, f'unattended-upgrades installed, APT::Periodic::Unattended-Upgrade "{periodic.group(1)}"')]
    if installed:
        return [Verdict(F, "unattended-upgrades installed but not switched on (APT::Periodic)")]
    return [Verdict(F, "no unattended-upgrades or dnf-automatic")]


@rule("system.reboot_required", "No reboot pending", Area.SYSTEM, Severity.MEDIUM,
      why="""Kernel and library updates only protect after a reboot (or a restart of the
      services using them). A pending reboot means the old, vulnerable code still runs.""",
      reference="https://wiki.debian.org/UnattendedUpgrades#Automatic_call_via_.2Fetc.2Fapt.2Fapt.conf.d.2F02periodic",
      remedy="reboot at a quiet time")
def reboot_required(facts: CheckFacts, now) -> list[Verdict]:
    """/var/run/reboot-required is absent."""
    if facts.reboot is None:
        return [Verdict(I, "not known on this system")]
    if facts.reboot == ():
        return [Verdict(P, "no /var/run/reboot-required")]
    pkgs = ", ".join(facts.reboot[:8])
    return [Verdict(W, f"reboot required{' for ' + pkgs if pkgs else ''}")]


@rule("system.disk_space", "Enough disk for the queue and mailboxes", Area.SYSTEM, Severity.HIGH,
      why="""When the disk holding the mail queue or the mailboxes fills up, Postfix stops
      accepting mail and Dovecot cannot save messages.""",
      reference="https://www.postfix.org/postconf.5.html#queue_minfree",
      remedy="free space or grow the volume; watch it (less than 10% free is a warning)")
def disk_space(facts: CheckFacts, now) -> list[Verdict]:
    """Each mount holding the queue/mail store/home/root has > 10% (WARN) and > 5% or 1 GB (FAIL) free."""
    if not facts.disks:
        return [Verdict(E, "df gave no answer")]
    out = []
    for d in facts.disks:
        free_gb = d.avail_kb / 1048576
        text = f"{d.mount}: {free_gb:.1f} GB free ({d.free_ratio:.0%})"
        if d.free_ratio < 0.05 or d.avail_kb < 1048576:
            out.append(Verdict(F, text, d.path, severity=Severity.CRITICAL if d.free_ratio < 0.02 else None))
        elif d.free_ratio < 0.10:
            out.append(Verdict(W, text, d.path))
        else:
            out.append(Verdict(P, text, d.path))
    return out


@rule("system.dkim_signing", "Outgoing mail is DKIM-signed", Area.SYSTEM, Severity.MEDIUM,
      why="""Gmail, Microsoft and most large receivers expect DKIM signatures (and DMARC).
      Unsigned mail lands in spam or is refused, and anyone can forge your domain.""",
      reference="https://www.rfc-editor.org/rfc/rfc6376",
      remedy="OpenDKIM (KeyTable/SigningTable) or rspamd dkim_signing, as a milter in smtpd_milters and non_smtpd_milters")
def dkim_signing(facts: CheckFacts, now) -> list[Verdict]:
    """An OpenDKIM KeyTable/SigningTable or rspamd dkim_signing config exists and Postfix has a milter."""
    if (skip := _no_postfix(facts)) is not None:
        return skip
    present = [l.split(" ", 1)[1] for l in facts.dkim if l.startswith("present ")]
    milters = facts.postfix.get("smtpd_milters") or facts.postfix.get("non_smtpd_milters")
    signer = [p for p in present if re.search(r"KeyTable|SigningTable|keytable|signingtable|dkim_signing|opendkim", p)]
    keys = "; ".join(f"{k.signer} signs {k.domain} with selector {k.selector}"
                     + ("" if k.pubkey_sha256 else f" (key {k.key_path} not readable here)")
                     for k in facts.dkim_keys[:5])
    if signer and milters:
        return [Verdict(P, f"signer config {signer[0]}" + (f" ({keys})" if keys else "") + f"; milters {milters}",
                        config=("main.cf smtpd_milters",))]
    if signer:
        return [Verdict(F, f"{signer[0]} exists but Postfix has no milter (smtpd_milters empty)",
                        config=("main.cf smtpd_milters",))]
    return [Verdict(W, "no DKIM signer found (OpenDKIM, rspamd); check your provider signs if mail leaves through it",
                    config=("main.cf smtpd_milters",))]


@rule("system.plesk", "Control panel manages the mail config", Area.SYSTEM, Severity.INFO,
      why="""Plesk regenerates Postfix and Dovecot configuration from its own database: changes
      made by hand (or by mailtui) can be overwritten at the next update. Prefer Plesk's own
      tools (Tools & Settings > Mail Server Settings, plesk bin mailserver) for what it covers.""",
      reference="https://docs.plesk.com/en-US/obsidian/administrator-guide/mail/",
      remedy="make the change in Plesk where it offers it")
def plesk(facts: CheckFacts, now) -> list[Verdict]:
    """Plesk presence (/usr/local/psa/version)."""
    if facts.plesk:
        return [Verdict(W, f"Plesk {facts.plesk} manages this server's mail configuration",
                        severity=Severity.MEDIUM)]
    return [Verdict(P, "no Plesk")]
