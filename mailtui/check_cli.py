"""``mailtui check`` and ``mailtui fix``: the checklist and its fixes without the app.

Same core functions as the Checklist panel: :func:`mailtui.core.checks.gather.gather`,
:func:`mailtui.core.checks.registry.evaluate` and the fix engine
(:mod:`mailtui.core.checks.engine`). Exit status: check 0 when nothing fails, 1 when a
rule fails; fix 0 when applied (or dry run), 1 when rolled back or refused; 2 usage;
3 the server could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from mailtui.core.checks.engine import (
    FixEngine,
    FixPlan,
    Outcome,
    StepEvent,
    apply_undo,
    history,
    plan_fix,
    plan_needs_plesk_consent,
    plan_undo,
)
from mailtui.core.checks.fixes import FixError
from mailtui.core.checks.gather import CONFIG_PROBES, gather
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import exit_code
from mailtui.core.profiles import Config
from mailtui.core.target import Target
from mailtui.core.transport import TransportError

EXIT_FIX_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3


def add_parsers(sub, trust_option) -> None:
    check = sub.add_parser("check", help="grade the server's configuration against the hardening rules")
    check.add_argument("target", nargs="?", metavar="TARGET", help="server to check (default: this machine)")
    check.add_argument("--json", action="store_true", help="print the findings as one JSON array")
    check.add_argument("--all", action="store_true", help="also list the rules that pass")
    trust_option(check)
    fix = sub.add_parser("fix", help="apply one checklist fix (backup, validate, reload, verify, roll back on failure)",
                         usage="%(prog)s RULE_ID [TARGET] [options]\n       %(prog)s --undo BACKUP_ID [TARGET] [options]\n"
                         "       %(prog)s --history [TARGET] [options]")
    fix.add_argument("rule", nargs="?", metavar="RULE_ID",
                     help="the rule/fix id, e.g. smtp.vrfy (with --undo or --history: no RULE_ID, the only "
                     "positional is the TARGET)")
    fix.add_argument("target", nargs="?", metavar="TARGET", help="server (default: this machine)")
    fix.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    fix.add_argument("--yes", action="store_true", help="apply without asking")
    fix.add_argument("--undo", metavar="BACKUP_ID", help="undo an applied fix (see --history)")
    fix.add_argument("--history", action="store_true", help="list the fixes applied on the server")
    fix.add_argument("--force-plesk", action="store_true",
                     help="apply even though Plesk manages the server (Plesk may overwrite the change)")
    fix.add_argument("--no-outside-check", action="store_true",
                     help="do not re-probe the server from outside after the fix (the scan's probes; "
                     "source and CA file from [servers.NAME.scan])")
    trust_option(fix)
    _resolve_positionals(fix)


def _resolve_positionals(parser: argparse.ArgumentParser) -> None:
    """With --undo/--history the one positional is the TARGET, never a RULE_ID: a server name
    must not be mistaken for a rule (and the undo then run on this machine). A rule id given
    together with --undo/--history is an error, not a guess."""
    parse = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        ns, rest = parse(args, namespace)
        if getattr(ns, "undo", None) is not None or getattr(ns, "history", False):
            option = "--undo" if ns.undo is not None else "--history"
            if ns.undo is not None and ns.history:
                parser.error("give --undo or --history, not both")
            if ns.rule is not None and ns.target is not None:
                parser.error(f"{option} takes only a TARGET, not a RULE_ID as well ({ns.rule!r} {ns.target!r})")
            if ns.rule is not None:
                if _is_rule_id(ns.rule):
                    parser.error(f"{option} takes no RULE_ID ({ns.rule!r} is a rule); give only the TARGET")
                ns.target, ns.rule = ns.rule, None
        return ns, rest

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _is_rule_id(text: str) -> bool:
    from mailtui.core.checks.fixes import FIXES
    from mailtui.core.checks.registry import RULES, all_rules

    all_rules()
    return text in FIXES or text in RULES


async def _connect(config: Config, target: Target, trust: str | None):
    from mailtui.cli import connect_transport

    return await connect_transport(config, target, trust)


def run_check(config: Config, target: Target, args: argparse.Namespace) -> int:
    return asyncio.run(_check(config, target, args))


async def _check(config: Config, target: Target, args: argparse.Namespace) -> int:
    try:
        transport = await _connect(config, target, args.trust_host_key)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    try:
        facts = await gather(transport)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        await transport.close()
    findings = evaluate(facts)
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False))
    else:
        for note in facts.problems.values():
            print(f"note: {note}")
        for f in findings:
            if f.status.value == "pass" and not args.all:
                continue
            where = f" [{f.target}]" if f.target else ""
            fix = f"  (fix: mailtui fix {f.fix})" if f.fix else ""
            print(f"{f.status.value.upper():5} {f.severity.value:8} {f.id}{where}: {f.evidence}{fix}")
        counts = {s: sum(1 for f in findings if f.status.value == s) for s in ("fail", "warn", "info", "error", "pass")}
        print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return exit_code(findings)


def run_fix(config: Config, target: Target, args: argparse.Namespace) -> int:
    return asyncio.run(_fix(config, target, args))


def _print_step(event: StepEvent) -> None:
    print(f"  {event.step.value:<14} {event.state.value:<8} {event.message}", flush=True)


async def _fix(config: Config, target: Target, args: argparse.Namespace) -> int:
    try:
        transport = await _connect(config, target, args.trust_host_key)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    try:
        if args.history:
            for item in await history(transport):
                print(f"{item.id}  {item.status:<12} {item.fix_id}  {', '.join(item.files)}")
            return 0
        if args.undo:
            plan = await plan_undo(transport, args.undo)
            _print_plan(plan)
            if args.dry_run:
                print("dry run: nothing changed")
                return 0
            if not args.yes and not _confirm(f"Undo {args.undo}?"):
                return EXIT_FIX_FAILED
            result = await apply_undo(transport, args.undo, plan=plan, observer=_print_step)
        else:
            if not args.rule:
                print("mailtui: give a RULE_ID (see `mailtui check`), --undo or --history", file=sys.stderr)
                return EXIT_USAGE
            manual = _manual_only(args.rule)
            if manual:
                print(f"mailtui: {manual}", file=sys.stderr)
                return EXIT_FIX_FAILED
            facts = await gather(transport, CONFIG_PROBES)
            plan = await plan_fix(transport, args.rule, facts)
            _print_plan(plan)
            if args.dry_run:
                print("dry run: nothing changed")
                return 0
            if plan_needs_plesk_consent(plan) and not args.force_plesk:
                print("mailtui: refused: Plesk manages this server and may overwrite the change; use Plesk's own "
                      "settings, or pass --force-plesk to apply it anyway", file=sys.stderr)
                return EXIT_FIX_FAILED
            if not args.yes and not _confirm("Apply?"):
                return EXIT_FIX_FAILED
            outside = _outside_check(config, target, facts, args)
            result = await FixEngine(transport, observer=_print_step, outside_check=outside).apply(plan)
    except FixError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_FIX_FAILED
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        await transport.close()
    print(result.message)
    return 0 if result.outcome in (Outcome.APPLIED, Outcome.DRY_RUN) else EXIT_FIX_FAILED


def _print_plan(plan: FixPlan) -> None:
    print(f"{plan.title} ({plan.undo_of or plan.fix_id}) on {plan.target}")
    for warning in plan.warnings:
        if warning.startswith("Plesk"):
            print(f"  !!! {warning}")
    print(plan.diff or "(no file changes)")
    for command in plan.commands:
        print(f"  $ {command}")
    for warning in plan.warnings:
        print(f"  ! {warning}")


def _outside_check(config: Config, target: Target, facts, args: argparse.Namespace):
    """The engine's outside check: the scan's probes against the server, from the profile's
    ``[servers.NAME.scan]`` source; skipped with the reason when off or impossible."""
    from mailtui.core.join import outside_check_for

    resolver = os.environ.get("MAILTUI_RESOLVER") or getattr(getattr(config, "settings", None), "resolver", None)
    return outside_check_for(target, facts=facts, resolver=resolver,
                             off="turned off (--no-outside-check)" if args.no_outside_check else None)


def _manual_only(rule_id: str) -> str | None:
    """Why ``rule_id`` (a checklist rule id, as the scan's ``fix`` names it) has no automatic fix."""
    from mailtui.core.checks.fixes import FIXES
    from mailtui.core.checks.registry import RULES, all_rules

    all_rules()
    rule = RULES.get(rule_id)
    if rule_id in FIXES or rule is None:
        return None
    return f"{rule_id} ({rule.title}) has no automatic fix; by hand: {rule.remedy}"


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print("mailtui: not a terminal; pass --yes to apply", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
