"""The checklist: gather the server's real configuration, grade it, fix it safely.

Public API (the CLI and the Checklist panel use only these):

- ``gather(transport) -> CheckFacts`` and ``evaluate(facts) -> list[Finding]``
- ``RULES`` / ``all_rules()``: the registry (id, title, area, severity, why, reference, fix)
- ``plan_fix(transport, fix_id) -> FixPlan`` (diff + commands + warnings, touches nothing)
- ``FixEngine(transport, observer=...).apply(plan, dry_run=False) -> FixResult``
- ``history(transport)``, ``plan_undo(transport, backup_id)``, ``apply_undo(...)``
"""
