"""The ``mailtui`` command: the TUI, and headless subcommands that reuse the core.

    mailtui [TARGET]                 start the app (no TARGET: this machine or the server list)
    mailtui facts [TARGET] [--json]  print what the server is
    mailtui scan HOST [...]          probe a mail server from outside (see mailtui scan --help)

TARGET is a saved server name, ``local``, a Host alias from ~/.ssh/config, or
``[user@]host[:port]``. Exit status: 0 success, 2 usage or configuration error,
3 the server could not be reached or refused us (host key, login, network).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from mailtui import __version__
from mailtui.core.connect import make_transport, trust_host_key
from mailtui.core.facts import ServerFacts, Status, collect_facts
from mailtui.core.profiles import Config, ConfigError, load_config
from mailtui.core.target import Target, TargetError, resolve_target
from mailtui.core.transport import HostKeyUnknown, TransportError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECT = 3

_SUBCOMMANDS = ("facts", "logs", "check", "fix", "scan")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailtui",
        description="See and fix the security of a small self-hosted mail server.",
        epilog="TARGET: a saved server name, 'local', a Host alias from ~/.ssh/config, or [user@]host[:port]. "
        "Subcommands: facts. The config file is $MAILTUI_CONFIG or ~/.config/mailtui/config.toml.",
    )
    parser.add_argument("--version", action="version", version=f"mailtui {__version__}")
    sub = parser.add_subparsers(dest="command")
    facts = sub.add_parser("facts", help="print what the server is (OS, MTA, IMAP server, listeners, logs, firewall)")
    facts.add_argument("target", nargs="?", metavar="TARGET", help="server to inspect (default: this machine)")
    facts.add_argument("--json", action="store_true", help="print one JSON object")
    _trust_option(facts)
    logs = sub.add_parser(
        "logs", help="print classified log events (the mail, IMAP and auth logs)",
        description="Classify log lines: what each one means and whether it is an attack. Without --file the "
        "server's mail/IMAP/auth logs are read (found by facts), merged by time.",
    )
    logs.add_argument("target", nargs="?", metavar="TARGET", help="server to read (default: this machine)")
    logs.add_argument("--file", metavar="PATH", help="read this local file instead ('-' = standard input); needs no server")
    logs.add_argument("--lines", type=int, default=1000, metavar="N", help="how many recent lines per source (default 1000)")
    logs.add_argument("--since", metavar="WHEN", help="only events since WHEN: 30m, 2h, 1d or 2026-11-29T14:00")
    logs.add_argument("--follow", action="store_true", help="keep following the logs (Ctrl-C ends)")
    logs.add_argument("--summary", action="store_true", help="counts per kind, top offenders, delivery stats instead")
    logs.add_argument("--json", action="store_true", help="JSON: one object per line (or one summary object)")
    _trust_option(logs)
    from mailtui.check_cli import add_parsers

    add_parsers(sub, _trust_option)
    from mailtui.scan_cli import add_scan_parser

    add_scan_parser(sub)
    return parser


def _trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-host-key",
        metavar="SHA256:...",
        help="trust the server's host key if (and only if) its fingerprint is this one "
        "(for a first connection without the app)",
    )


def _app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailtui", description="Start the mailtui app.")
    parser.add_argument("--version", action="version", version=f"mailtui {__version__}")
    parser.add_argument("target", nargs="?", metavar="TARGET", help="server to open (default: this machine)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first in _SUBCOMMANDS or (args_list and args_list[0] in ("-h", "--help")):
        args = _parser().parse_args(args_list)
    else:
        args = _app_parser().parse_args(args_list)
        args.command = None
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        return _run_app(config, args.target)
    if args.command == "scan":
        from mailtui.scan_cli import run_scan_cli

        return run_scan_cli(args, config)
    if args.command == "logs" and args.file is not None:
        from mailtui.logs_cli import run_logs_file

        return run_logs_file(args)
    try:
        target = resolve_target(args.target, config)
    except TargetError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "facts":
        return asyncio.run(_facts(config, target, args))
    if args.command in ("check", "fix"):
        from mailtui import check_cli

        if args.command == "fix" and not (args.rule or args.undo or args.history):
            print("mailtui: give a RULE_ID, --undo BACKUP_ID or --history", file=sys.stderr)
            return EXIT_USAGE
        return check_cli.run_check(config, target, args) if args.command == "check" else check_cli.run_fix(config, target, args)
    if args.command == "logs":
        from mailtui.logs_cli import run_logs

        if args.file is not None and args.target is not None:
            print("mailtui: give either TARGET or --file, not both", file=sys.stderr)
            return EXIT_USAGE
        return run_logs(config, target, args)
    return EXIT_USAGE


def _run_app(config: Config, target_text: str | None) -> int:
    # Imported here so headless subcommands never load Textual.
    from mailtui.ui.app import MailtuiApp

    if target_text is not None:
        try:
            resolve_target(target_text, config)
        except TargetError as exc:
            print(f"mailtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
    app = MailtuiApp(config=config, target=target_text)
    app.run()
    return app.return_code or 0


async def connect_transport(config: Config, target: Target, trust: str | None):
    transport = make_transport(target, config)
    try:
        await transport.connect()
    except HostKeyUnknown as unknown:
        if trust is None or trust.strip() != unknown.fingerprint:
            hint = (
                f"To trust it, check the fingerprint on the server, then run again with "
                f"--trust-host-key {unknown.fingerprint} (or connect once with the app: mailtui {target.name})."
            )
            if trust is not None:
                hint = f"It does not match the fingerprint you gave ({trust}). Not connecting."
            raise TransportError(f"{unknown.message} {hint}") from None
        path = trust_host_key(config, unknown)
        print(f"mailtui: trusted {unknown.key_type} {unknown.fingerprint} for {unknown.host} (saved in {path})",
              file=sys.stderr)
        transport = make_transport(target, config)
        await transport.connect()
    return transport


async def _facts(config: Config, target: Target, args: argparse.Namespace) -> int:
    try:
        transport = await connect_transport(config, target, args.trust_host_key)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    try:
        facts = await collect_facts(transport)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        await transport.close()
    if args.json:
        print(json.dumps(facts.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_facts(facts))
    return EXIT_OK


def _software(item) -> str:
    if item.status != Status.FOUND:
        return f"{item.status.value} ({item.reason})"
    text = f"{item.name} {item.version or '(version unknown)'}"
    if item.running is False:
        text += " — installed, not listening"
    return text


def format_facts(facts: ServerFacts) -> str:
    """The human-readable form of ``mailtui facts``."""
    lines = [f"Server:        {facts.target}"]
    os_text = facts.os.name if facts.os.status == Status.FOUND else f"unknown ({facts.os.reason})"
    lines.append(f"System:        {os_text}" + (f", kernel {facts.os.kernel}" if facts.os.kernel else ""))
    lines.append(f"Host name:     {facts.fqdn or facts.hostname or 'unknown'}")
    lines.append(f"Logged in as:  {facts.privileges.user} ({facts.privileges.detail})")
    lines.append(f"MTA:           {_software(facts.mta)}")
    lines.append(f"IMAP/POP3:     {_software(facts.imap)}")
    lines.append(f"Control panel: {_software(facts.panel) if facts.panel.status == Status.FOUND else 'none found'}")
    if facts.listeners.status == Status.FOUND:
        grouped: dict[tuple[int, str | None], list[str]] = {}
        for item in facts.listeners.items:
            grouped.setdefault((item.port, item.process), []).append(item.address)
        for i, ((port, process), addresses) in enumerate(grouped.items()):
            head = "Listening:     " if i == 0 else "               "
            lines.append(f"{head}{port:<6} {', '.join(addresses)}" + (f"  ({process})" if process else ""))
        if facts.listeners.reason:
            lines.append(f"               {facts.listeners.reason}")
    else:
        lines.append(f"Listening:     unknown ({facts.listeners.reason})")
    if facts.log_sources.items:
        for i, src in enumerate(facts.log_sources.items):
            head = "Logs:          " if i == 0 else "               "
            size = f", {src.size} bytes" if src.size is not None else ""
            lines.append(f"{head}{src.name} [{src.category}, {src.kind}, access: {src.access}{size}]")
    else:
        lines.append(f"Logs:          {facts.log_sources.status.value} ({facts.log_sources.reason})")
    if facts.firewall.frontends:
        fw = "; ".join(
            f"{f.name}: {'active' if f.active else 'inactive' if f.active is False else 'state unknown'} ({f.detail})"
            for f in facts.firewall.frontends
        )
        lines.append(f"Firewall:      {fw}")
    else:
        lines.append(f"Firewall:      {facts.firewall.status.value} ({facts.firewall.reason})")
    f2b = facts.fail2ban
    if f2b.status == Status.FOUND and f2b.running:
        lines.append(f"fail2ban:      running, jails: {', '.join(f2b.jails) or 'none'}")
    else:
        lines.append(f"fail2ban:      {f2b.status.value} ({f2b.reason})")
    return "\n".join(lines)
