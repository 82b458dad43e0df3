"""Make the README screenshots from real, headless runs of the app on this machine.

    python screenshots/make.py [--size 120x40] [--out screenshots/] [--only NAME ...]

For every bundled theme it writes:

    server-THEME.svg          the Server screen with this machine's real facts
    logs-THEME.svg            the Logs panel on this machine's real mail logs (attacks only,
                              a relay probe selected and explained)
    ban-THEME.svg             the question before banning the newest attacker (b on the Logs
                              panel): the exact command, the warnings; never confirmed here
    servers-THEME.svg         the Servers screen with two example profiles
    hostkey-THEME.svg         the host-key dialog for a first connection
    hostkey-changed-THEME.svg the refusal when a server's host key changed
    profile-form-THEME.svg    the form that adds a server
    scan-THEME.svg            the Scan panel after a scan of the lab from its outsider address
                              127.0.0.2 (with the lab CA), a TLS warning on port 587 selected:
                              its evidence and the config lines behind it; without the lab,
                              a scan of this machine (127.0.0.1)
    checklist-THEME.svg       the Checklist panel of the lab (else this machine), the worst
                              failing rule with an automatic fix selected and explained
    fix-preview-THEME.svg     f on that rule: the fix preview (diff, commands, Apply / Dry run /
                              Cancel); never applied here. Needs a rule that fails: the README's
                              were made with the lab in its weak profile (`lab.py profile weak`,
                              then `profile hardened`); on a clean server it is skipped

``--only scan`` (any scene names) makes only those.

HOME and MAILTUI_CONFIG point into a temporary directory, so the run neither reads nor
changes the real configuration or known_hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

Scene = Callable[["MailtuiApp", object], Awaitable[None]]  # noqa: F821 - imported in main()


async def _wait(pilot, predicate, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise RuntimeError("the app did not get there in time")
        await pilot.pause(0.05)
    await pilot.pause(0.3)


def _example_key(seed: int):
    import asyncssh

    # Fixed example keys would be nicer, but a fresh one is as honest: it is only shown.
    return asyncssh.generate_private_key("ssh-ed25519", comment=f"example-{seed}")


LAB_JSON = Path("/var/lib/mailtui-lab/lab.json")


async def shoot(theme: str, out: Path, size: tuple[int, int], home: Path, only: frozenset[str] = frozenset()) -> list[Path]:
    from mailtui.core.profiles import ServerProfile, load_config, save_config
    from mailtui.core.transport import HostKeyChanged, HostKeyUnknown
    from mailtui.ui.app import MailtuiApp
    from mailtui.ui.dialogs import HostKeyChangedDialog, HostKeyDialog, ProfileForm

    written: list[Path] = []

    def config_file(name: str) -> Path:
        # Each scene has its own home, so the config shows as ~/.config/mailtui/config.toml.
        os.environ["HOME"] = str(home / name)
        path = home / name / ".config" / "mailtui" / "config.toml"
        os.environ["MAILTUI_CONFIG"] = str(path)
        return path

    async def run(name: str, app: MailtuiApp, scene) -> None:
        if only and name not in only:
            return
        async with app.run_test(size=size) as pilot:
            app.theme = theme
            await scene(app, pilot)
            path = out / f"{name}-{theme}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            written.append(path)

    # The Server screen: this machine, no saved servers.
    config_file(f"{theme}-local")

    async def server_scene(app, pilot):
        await _wait(pilot, lambda: app.session is not None and app.screen.query("#facts"))

    await run("server", MailtuiApp(config=load_config(), target=None), server_scene)

    # The Logs panel on this machine's logs: attacks only, the newest attack explained.
    async def logs_scene(app, pilot):
        from mailtui.ui.screens.logs import LogsScreen
        from mailtui.ui.widgets.log_view import LogView

        await _wait(pilot, lambda: app.session is not None and app.screen.query("#facts"))
        await pilot.press("l")
        await _wait(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen.summary is not None
                    and app.screen.query_one(LogView).total_count > 0)
        await pilot.press("a", "up", "up")
        await pilot.pause(0.5)

    await run("logs", MailtuiApp(config=load_config(), target=None), logs_scene)

    # b on the newest attack: the ban dialog. The run ends with the dialog open, so
    # nothing is banned (only a yes in the dialog applies a ban).
    async def ban_scene(app, pilot):
        from mailtui.ui.dialogs.ban import BanDialog

        await logs_scene(app, pilot)
        await pilot.press("end", "b")
        await _wait(pilot, lambda: isinstance(app.screen, BanDialog))

    await run("ban", MailtuiApp(config=load_config(), target=None), ban_scene)

    # The Servers screen with two example profiles.
    config_file(f"{theme}-servers")
    config = load_config()
    for profile in (
        ServerProfile("mail", "mail.example.org", user="admin", key="~/.ssh/id_ed25519"),
        ServerProfile("mx2", "192.0.2.25", port=2222, user="root", jump="admin@bastion.example.org", sudo=False),
    ):
        config = config.with_server(profile)
    save_config(config)

    async def servers_scene(app, pilot):
        await pilot.pause(0.3)
        await pilot.press("down")

    await run("servers", MailtuiApp(config=load_config(), target=None), servers_scene)

    key = _example_key(1)
    unknown = HostKeyUnknown("mail.example.org", 22, key.get_algorithm(), key.get_fingerprint("sha256"),
                             key.export_public_key("openssh").decode().strip())

    async def hostkey_scene(app, pilot):
        await pilot.pause(0.2)
        app.push_screen(HostKeyDialog(unknown))
        await pilot.pause(0.3)

    await run("hostkey", MailtuiApp(config=load_config(), target=None), hostkey_scene)

    old = _example_key(2)
    changed = HostKeyChanged("mail.example.org", 22, [old.get_fingerprint("sha256")], key.get_fingerprint("sha256"),
                             [str(load_config().known_hosts_path)])

    async def changed_scene(app, pilot):
        await pilot.pause(0.2)
        app.push_screen(HostKeyChangedDialog(changed))
        await pilot.pause(0.3)

    await run("hostkey-changed", MailtuiApp(config=load_config(), target=None), changed_scene)

    async def form_scene(app, pilot):
        await pilot.pause(0.2)
        app.push_screen(ProfileForm(app.config))
        await pilot.pause(0.2)
        await pilot.press(*"backup", "tab", *"backup.example.org", "tab", *"99999", "ctrl+s")
        await pilot.pause(0.3)

    await run("profile-form", MailtuiApp(config=load_config(), target=None), form_scene)

    # The Scan panel: the lab when it runs here (probing from its outsider address), else this machine.
    config_file(f"{theme}-scan")
    target = None
    if LAB_JSON.exists():
        import json

        lab = json.loads(LAB_JSON.read_text())
        ssh = lab["ssh"]
        save_config(load_config().with_server(ServerProfile(
            "lab", ssh["host"], port=ssh["port"], user=ssh["users"]["admin"]["name"], key=ssh["users"]["admin"]["key"],
            agent=False, scan_source=lab["outsider_ip"], scan_ca_file=lab["ca"]["cert"], scan_blocklists="dnsbl.test")))
        load_config().known_hosts_path.write_text(ssh["known_hosts_line"] + "\n")
        os.environ.setdefault("MAILTUI_RESOLVER", f"{lab['dns']['server']}:{lab['dns']['port']}")
        target = "lab"

    async def scan_scene(app, pilot):
        from mailtui.ui.screens.scan import ScanScreen
        from mailtui.ui.widgets.findings import FindingsView

        await _wait(pilot, lambda: app.session is not None and app.screen.query("#facts"))
        await pilot.press("o")
        await _wait(pilot, lambda: isinstance(app.screen, ScanScreen))
        screen = app.screen
        await _wait(pilot, lambda: screen.check_facts is not None or screen.config_problem is not None)
        await pilot.press("r")
        await _wait(pilot, lambda: screen.scanning, timeout=10)
        await _wait(pilot, lambda: not screen.scanning, timeout=180)
        view = screen.query_one(FindingsView)
        view.select("tls.ciphers", f"{screen.scan_host}:587") or view.select("smtp.banner_disclosure")
        await pilot.pause(0.5)

    await run("scan", MailtuiApp(config=load_config(), target=target), scan_scene)
    written += await shoot_checklist(theme, out, size, home, only)
    return written


async def shoot_checklist(theme: str, out: Path, size: tuple[int, int], home: Path,
                          only: frozenset[str] = frozenset()) -> list[Path]:
    """checklist-THEME.svg and fix-preview-THEME.svg: the lab over SSH when it runs here, else this machine."""
    from mailtui.core.profiles import ServerProfile, load_config, save_config
    from mailtui.ui.app import MailtuiApp
    from mailtui.ui.dialogs.fix_preview import FixPreviewDialog
    from mailtui.ui.screens.checklist import ChecklistScreen, RulesView, fixable

    written: list[Path] = []
    os.environ["HOME"] = str(home / f"{theme}-checklist")
    os.environ["MAILTUI_CONFIG"] = str(home / f"{theme}-checklist" / ".config" / "mailtui" / "config.toml")
    os.environ["MAILTUI_STATE_DIR"] = str(home / f"{theme}-checklist" / "state")
    target = None
    if LAB_JSON.exists():
        import json

        ssh = json.loads(LAB_JSON.read_text())["ssh"]
        save_config(load_config().with_server(ServerProfile(
            "lab", ssh["host"], port=ssh["port"], user=ssh["users"]["admin"]["name"], key=ssh["users"]["admin"]["key"],
            agent=False)))
        load_config().known_hosts_path.write_text(ssh["known_hosts_line"] + "\n")
        target = "lab"

    async def open_checklist(app, pilot) -> ChecklistScreen:
        await _wait(pilot, lambda: app.session is not None and app.screen.query("#facts"))
        await pilot.press("c")
        await _wait(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.generation > 0)
        screen = app.screen
        candidates = fixable(screen.findings)
        if candidates:
            screen.query_one(RulesView).select(candidates[0].id, candidates[0].target)
            await pilot.pause(0.3)
        return screen

    for name in ("checklist", "fix-preview"):
        if only and name not in only:
            continue
        app = MailtuiApp(config=load_config(), target=target)
        async with app.run_test(size=size) as pilot:
            app.theme = theme
            screen = await open_checklist(app, pilot)
            if name == "fix-preview":
                if not fixable(screen.findings):
                    print(f"fix-preview-{theme}.svg skipped: no failing rule with an automatic fix", file=sys.stderr)
                    continue
                await pilot.press("f")  # preview only: nothing here presses Apply
                await _wait(pilot, lambda: isinstance(app.screen, FixPreviewDialog) and app.screen.plan is not None)
            path = out / f"{name}-{theme}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            written.append(path)
    return written


async def main_async(out: Path, size: tuple[int, int], only: frozenset[str] = frozenset()) -> list[Path]:
    from mailtui.ui.themes import bundled_themes_dir, load_themes

    themes, errors = load_themes([bundled_themes_dir()])
    if errors:
        raise SystemExit("\n".join(str(e) for e in errors))
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="mailtui-shots-") as tmp:
        home = Path(tmp)
        os.environ.pop("SSH_AUTH_SOCK", None)
        os.environ.pop("XDG_CONFIG_HOME", None)
        for theme in sorted(t.name for t in themes):
            written += await shoot(theme, out, size, home, only)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="120x40", help="terminal size, COLUMNSxROWS (default 120x40)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output directory")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="make only these scenes (server, logs, ban, servers, hostkey, hostkey-changed, "
                             "profile-form, scan, checklist, fix-preview)")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    for path in asyncio.run(main_async(args.out, (columns, rows), frozenset(args.only))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
