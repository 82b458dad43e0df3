"""MailtuiApp: start, connect (verifying host keys), show facts, manage saved servers.

Screens: ServersScreen is the base screen; a ServerScreen is pushed on top of it for
the connected server. Slow work runs in workers owned by the app (``connect`` and
``facts`` groups, exclusive) whose outcome is handled in one ``on_worker_state_changed``.
"""

from __future__ import annotations

from dataclasses import replace
from weakref import WeakKeyDictionary

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.content import Content
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from mailtui.core.ban import connection_addresses
from mailtui.core.connect import make_transport, trust_host_key
from mailtui.core.facts import ServerFacts, SudoState, collect_facts
from mailtui.core.profiles import Config, ConfigError, ServerProfile, save_config
from mailtui.core.target import LocalTarget, Target, TargetError, resolve_target
from mailtui.core.transport import HostKeyChanged, HostKeyUnknown, Transport, TransportError
from mailtui.ui.commands import MailtuiCommands
from mailtui.ui.dialogs import (
    ErrorDialog,
    HostKeyChangedDialog,
    HostKeyChoice,
    HostKeyDialog,
    ProfileForm,
    SudoPasswordDialog,
)
from mailtui.core.logs.reading import pick_sources
from mailtui.ui.paths import display_path
from mailtui.ui.screens.checklist import ChecklistScreen
from mailtui.ui.screens.logs import LogsScreen
from mailtui.ui.screens.scan import ScanScreen
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.screens.servers import ServersScreen, target_name
from mailtui.ui.session import Session
from mailtui.ui.themes import DEFAULT_THEME, bundled_themes_dir, load_themes

__all__ = ["MailtuiApp"]


class MailtuiApp(App[None]):
    """The mailtui terminal app. ``target`` is the raw TARGET argument, or None."""

    CSS_PATH = "app.tcss"
    TITLE = "mailtui"
    COMMANDS = App.COMMANDS | {MailtuiCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Close the connection and leave mailtui"),
    ]

    #: The saved servers and settings (replaced as a whole when a profile is saved).
    config: var[Config] = var(None, init=False)  # type: ignore[assignment]  (set in __init__)
    #: The connected server, if any.
    session: var[Session | None] = var(None, init=False)

    def __init__(self, config: Config, target: str | None = None) -> None:
        super().__init__()
        self.set_reactive(MailtuiApp.config, config)
        self._start_target = target
        #: The target the running ``connect`` worker is connecting to.
        self._connecting: Target | None = None
        #: Where the admin is connected from, per open transport (asked once: see own_addresses).
        self._own_addresses: WeakKeyDictionary[Transport, frozenset[str]] = WeakKeyDictionary()
        self._register_themes()

    # ------------------------------------------------------------------ themes
    def _register_themes(self) -> None:
        themes, errors = load_themes([bundled_themes_dir(), self.config.path.parent / "themes"])
        for theme in themes:
            self.register_theme(theme)
        self._theme_errors = errors
        chosen = self.config.settings.theme
        if chosen and chosen in self.available_themes:
            self.theme = chosen
        elif DEFAULT_THEME in self.available_themes:
            self.theme = DEFAULT_THEME

    def watch_theme(self, theme: str) -> None:
        """Remember the theme the user picks (command palette) for the next start."""
        if not self.is_running or theme == self.config.settings.theme:
            return
        settings = replace(self.config.settings, theme=theme)
        self._write_config(replace(self.config, settings=settings))

    # ------------------------------------------------------------------- start
    def get_default_screen(self) -> Screen:
        return ServersScreen()

    def on_mount(self) -> None:
        for error in self._theme_errors:
            self.notify(str(error), title="Theme not loaded", severity="warning", markup=False)
        if self._start_target is not None:
            try:
                target = resolve_target(self._start_target, self.config)
            except TargetError as exc:
                self.push_screen(ErrorDialog("Cannot open that server", str(exc)))
                return
            self.connect_to(target)
        elif not self.config.servers:
            self.connect_to(LocalTarget())

    # -------------------------------------------------------------- connecting
    def connect_to(self, target: Target) -> None:
        """Connect to ``target`` (closing any other connection) and show its facts."""
        transport = make_transport(target, self.config)
        self._connecting = target
        screen = self._server_screen()
        if screen is None or screen.facts is not None or screen.label != transport.label:
            self._back_to_servers()
            screen = ServerScreen(transport.label)
            self.push_screen(screen)
        self.call_after_refresh(screen.show_progress, Content.assemble("Connecting to ", (transport.label, "bold"), "…"))
        self._connect(target, transport)

    @work(group="connect", exclusive=True, exit_on_error=False, name="connect")
    async def _connect(self, target: Target, transport: Transport) -> Session:
        await self._end_session()
        try:
            await transport.connect()
            self._progress(Content.assemble("Connected to ", (transport.label, "bold"), ". Reading facts…"))
            facts = await collect_facts(transport)
        except BaseException:
            # Cancelled or failed: nothing may stay open behind the user's back.
            await transport.close()
            raise
        return Session(target, transport, facts)

    @work(group="facts", exclusive=True, exit_on_error=False, name="facts")
    async def _read_facts(self, session: Session) -> tuple[Session, ServerFacts]:
        self._progress("Reading facts…")
        return session, await collect_facts(session.transport)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the app's slow work ends: results, errors, dialogs."""
        worker = event.worker
        if worker.group == "connect":
            if event.state == WorkerState.SUCCESS:
                self._connected(worker.result)
            elif event.state == WorkerState.ERROR:
                self._connect_failed(self._connecting, worker.error)
        elif worker.group == "facts":
            if event.state == WorkerState.SUCCESS:
                session, facts = worker.result
                if self.session is session:
                    self.session = session.with_facts(facts)
                    self.call_after_refresh(self._show_facts)
            elif event.state == WorkerState.ERROR:
                error = worker.error
                message = error.message if isinstance(error, TransportError) else f"{type(error).__name__}: {error}"
                screen = self._server_screen()
                if screen is not None:
                    screen.show_problem(Content.assemble(("Re-reading facts failed: ", "bold"), message))
                self.notify(message, title="Re-reading facts failed", severity="error", markup=False)
            self.refresh_bindings()

    def _connected(self, session: Session) -> None:
        self._connecting = None
        self.session = session
        self.sub_title = session.transport.label
        screen = self._server_screen()
        if screen is None:
            screen = ServerScreen(session.transport.label)
            self.push_screen(screen)
        self.call_after_refresh(self._show_facts)

    def _connect_failed(self, target: Target | None, error: BaseException | None) -> None:
        self._connecting = None
        if isinstance(error, HostKeyUnknown) and target is not None:
            screen = self._server_screen()
            if screen is not None:
                screen.show_progress("Unknown host key: compare the fingerprint, then decide.")

            def decided(choice: HostKeyChoice | None) -> None:
                if choice in (HostKeyChoice.MAILTUI, HostKeyChoice.USER) and self.trust_host_key(error, choice):
                    self.connect_to(target)
                else:
                    self._back_to_servers()
                    self.notify("Not connected: host key refused", severity="warning")

            self.push_screen(HostKeyDialog(error, display_path(self.config.known_hosts_path)), decided)
            return
        self._back_to_servers()
        name = target_name(target) if target is not None else "the server"
        if isinstance(error, HostKeyChanged):
            self.push_screen(HostKeyChangedDialog(error))
        elif isinstance(error, TransportError):
            self.push_screen(ErrorDialog(f"Could not connect to {name}", error.message))
        else:
            self.log.error(f"connect to {name} failed", error)
            self.push_screen(ErrorDialog(f"Could not connect to {name}",
                                         f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"))

    def trust_host_key(self, unknown: HostKeyUnknown, choice: HostKeyChoice) -> bool:
        """Record a key the user accepted; False (after saying why) when it cannot be saved."""
        try:
            path = trust_host_key(self.config, unknown, store=choice.value)
        except OSError as exc:
            self.push_screen(ErrorDialog("Cannot save the host key", f"{exc.filename or ''}: {exc.strerror or exc}"))
            return False
        self.notify(f"Trusted {unknown.key_type} {unknown.fingerprint} for {unknown.host} port {unknown.port} "
                    f"(saved in {display_path(path)})", title="Host key saved", markup=False)
        return True

    def _progress(self, text: Content | str) -> None:
        screen = self._server_screen()
        if screen is not None:
            screen.show_progress(text)

    async def _show_facts(self) -> None:
        screen = self._server_screen()
        if screen is not None and self.session is not None:
            await screen.show_facts(self.session.transport.label, self.session.facts)
        self.refresh_bindings()

    async def _end_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.transport.close()

    # ---------------------------------------------------------------- screens
    def _server_screen(self) -> ServerScreen | None:
        return next((s for s in reversed(self.screen_stack) if isinstance(s, ServerScreen)), None)

    def _back_to_servers(self) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ServersScreen):
            self.pop_screen()

    def show_session(self) -> None:
        """Go (back) to the connected server's screen without connecting again."""
        if self.session is None:
            return
        if self._server_screen() is None:
            self.push_screen(ServerScreen(self.session.transport.label))
        self.call_after_refresh(self._show_facts)

    # ----------------------------------------------------------------- actions
    def action_show_servers(self) -> None:
        for worker in self.workers:
            if worker.group == "connect" and worker.is_running:
                worker.cancel()
                self.notify("Connection attempt cancelled.")
        self._connecting = None
        self._back_to_servers()

    def can_show_logs(self) -> bool:
        session = self.session
        return session is not None and bool(pick_sources(session.facts.log_sources.items))

    def action_show_logs(self) -> None:
        """Open the Logs panel of the connected server (on top of its Server screen)."""
        session = self.session
        if session is None or isinstance(self.screen, LogsScreen):
            return
        sources = pick_sources(session.facts.log_sources.items)
        self.push_screen(LogsScreen(session.transport, sources, label=session.transport.label, facts=session.facts))

    def action_show_checklist(self) -> None:
        """Open the Checklist panel of the connected server (on top of its Server screen)."""
        session = self.session
        if session is None or isinstance(self.screen, ChecklistScreen):
            return
        self.push_screen(ChecklistScreen(session.transport, label=session.transport.label))

    def action_show_fix_history(self) -> None:
        """The fixes applied on the connected server, over its Checklist panel (opened if needed)."""
        session = self.session
        if session is None:
            return
        checklist = self.screen
        if not isinstance(checklist, ChecklistScreen):
            checklist = ChecklistScreen(session.transport, label=session.transport.label)
            self.push_screen(checklist)
        checklist.action_history()

    def action_show_scan(self) -> None:
        """Open the Scan panel of the connected server (on top of its Server screen)."""
        session = self.session
        if session is None or isinstance(self.screen, ScanScreen):
            return
        target = session.target
        saved = self.config.server(target.name) if isinstance(target, ServerProfile) else None
        self.push_screen(ScanScreen(session, profile=saved))

    def facts_for(self, transport: Transport) -> ServerFacts | None:
        """The newest facts of ``transport``'s server, when it is the connected one."""
        session = self.session
        return session.facts if session is not None and session.transport is transport else None

    async def own_addresses(self, transport: Transport) -> frozenset[str]:
        """The addresses the admin is connected to ``transport``'s server from (asked once per connection).

        Raises TransportError when the server cannot be asked.
        """
        known = self._own_addresses.get(transport)
        if known is None:
            known = self._own_addresses[transport] = frozenset(await connection_addresses(transport))
        return known

    def action_reread_facts(self) -> None:
        if self.session is not None:
            self._read_facts(self.session)

    def can_give_sudo_password(self) -> bool:
        session = self.session
        return session is not None and session.facts.privileges.sudo == SudoState.PASSWORD

    def action_sudo_password(self) -> None:
        session = self.session
        if session is None:
            return

        def given(password: str | None) -> None:
            if password and self.session is session:
                session.transport.set_sudo_password(password)
                self._read_facts(session)

        self.push_screen(SudoPasswordDialog(session.facts.privileges.user, session.transport.label), given)

    def action_add_server(self) -> None:
        def added(profile: ServerProfile | None) -> None:
            if profile is not None:
                self.save_profile(profile)

        self.push_screen(ProfileForm(self.config), added)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reread_facts":
            if self.session is None:
                return False
            busy = any(w.group in ("facts", "connect") and w.is_running for w in self.workers)
            return None if busy else True
        if action == "sudo_password":
            return self.can_give_sudo_password()
        if action == "show_logs":
            return self.can_show_logs()
        if action == "show_scan":
            return self.session is not None
        if action == "show_checklist":
            return self.session is not None
        return True

    async def action_quit(self) -> None:
        if any(w.group == "fix-apply" and w.is_running for w in self.workers):  # see FixPreviewDialog._apply
            # Quitting cancels the worker half way through the change: never while a fix runs.
            self.notify("A fix is being applied; wait for it to finish or roll back, then quit.",
                        severity="warning", markup=False)
            return
        for worker in self.workers:
            worker.cancel()
        await self._end_session()
        self.exit()

    # ---------------------------------------------------------------- profiles
    def save_profile(self, profile: ServerProfile, replacing: str | None = None) -> bool:
        """Add a profile, or replace the one named ``replacing`` in place; write the config."""
        if replacing:
            servers = tuple(profile if s.name == replacing else s for s in self.config.servers)
            new = replace(self.config, servers=servers)
        else:
            new = self.config.with_server(profile)
        if not self._write_config(new):
            return False
        self.notify(f"Saved {profile.name} in {display_path(new.path)}", markup=False)
        screen = self.screen_stack[0]
        if isinstance(screen, ServersScreen):
            screen.refresh_rows(new, select=f"server:{profile.name}")
        return True

    async def delete_profile(self, name: str) -> bool:
        """Forget a profile (and disconnect if it is the connected server)."""
        if not self._write_config(self.config.without_server(name)):
            return False
        session = self.session
        if session is not None and isinstance(session.target, ServerProfile) and session.target.name == name:
            await self._end_session()
        self.notify(f"Deleted {name}", markup=False)
        return True

    def _write_config(self, config: Config) -> bool:
        try:
            save_config(config)
        except (OSError, ConfigError) as exc:
            message = str(exc) if isinstance(exc, ConfigError) else f"{config.path}: {exc.strerror or exc}"
            self.push_screen(ErrorDialog("Cannot save the configuration", message))
            return False
        self.config = config
        return True

    # -------------------------------------------------------------- watchers
    def watch_session(self, _session: Session | None) -> None:
        self.refresh_bindings()
