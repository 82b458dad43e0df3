"""Add or edit a saved server: a form that validates everything before it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, Switch

from mailtui.core.profiles import Config, ConfigError, ServerProfile, config_to_toml, parse_config, validate_host, validate_user
from mailtui.core.target import TargetError, parse_address

__all__ = ["FormValues", "ProfileForm", "validate_profile"]

TEXT_FIELDS = ("name", "host", "port", "user", "key", "jump")


@dataclass(frozen=True)
class FormValues:
    """What the form holds, as typed."""

    name: str = ""
    host: str = ""
    port: str = ""
    user: str = ""
    key: str = ""
    agent: bool = True
    jump: str = ""
    sudo: bool = True

    @classmethod
    def from_profile(cls, profile: ServerProfile) -> FormValues:
        return cls(
            name=profile.name, host=profile.host, port=str(profile.port) if profile.port else "",
            user=profile.user or "", key=profile.key or "", agent=profile.agent, jump=profile.jump or "",
            sudo=profile.sudo,
        )


def validate_profile(values: FormValues, config: Config, original: str | None) -> ServerProfile | dict[str, str]:
    """The profile the form describes, or ``{field: error sentence}``.

    ``original`` is the name of the profile being edited (None when adding). The result
    is also round-tripped through the config validator, so saving cannot fail on it.
    """
    errors: dict[str, str] = {}
    name = values.name.strip()
    if not name:
        errors["name"] = "Give the server a short name, e.g. mail."
    elif name != original and config.server(name) is not None:
        errors["name"] = f"A server named {name} already exists."
    host = values.host.strip()
    if not host:
        errors["host"] = "The host name or IP address is needed."
    else:
        try:
            host = validate_host(host)
        except ValueError as exc:
            errors["host"] = f"{exc}."
    port: int | None = None
    if values.port.strip():
        text = values.port.strip()
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            errors["port"] = "The port must be a number from 1 to 65535 (blank: 22)."
        else:
            port = int(text)
    user = values.user.strip() or None
    if user is not None:
        try:
            validate_user(user)
        except ValueError as exc:
            errors["user"] = f"{exc}."
    key = values.key.strip() or None
    if key is not None and not os.path.isfile(os.path.expanduser(key)):
        errors["key"] = f"There is no file {key} on this machine."
    jump = values.jump.strip() or None
    if jump is not None:
        try:
            parse_address(jump)
        except TargetError as exc:
            errors["jump"] = f"Use [user@]host[:port]: {exc}."
    if errors:
        return errors
    profile = ServerProfile(name=name, host=host, port=port, user=user, key=key, agent=values.agent,
                            jump=jump, sudo=values.sudo)
    candidate = config.without_server(original) if original else config
    try:
        parse_config(config_to_toml(candidate.with_server(profile)), config.path)
    except ConfigError as exc:
        # The config's own rules (e.g. which characters a name may use) have the last word.
        field = exc.key.rsplit(".", 1)[-1] if exc.key.count(".") >= 2 else "name"
        return {field if field in TEXT_FIELDS else "name": f"{exc.problem[:1].upper()}{exc.problem[1:]}."}
    return profile


class ProfileForm(ModalScreen[ServerProfile | None]):
    """Returns the validated profile on Save, None on Cancel. The caller saves it."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="profile_form.cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", id="profile_form.save", tooltip="Check the fields and save the server"),
    ]

    def __init__(self, config: Config, profile: ServerProfile | None = None) -> None:
        super().__init__(classes="dialog")
        self.config = config
        self.original = profile
        self.values = FormValues.from_profile(profile) if profile else FormValues()

    def compose(self) -> ComposeResult:
        values = self.values
        with Vertical(id="dialog-box", classes="-form"):
            yield Label("Edit server" if self.original else "Add a server", classes="dialog-title")
            with VerticalScroll(id="form-fields"):
                yield from self._field("name", "Name", values.name, "short name, e.g. mail")
                yield from self._field("host", "Host", values.host, "mail.example.org, 192.0.2.10 or a ~/.ssh/config Host")
                yield from self._field("port", "SSH port", values.port, "22")
                yield from self._field("user", "User", values.user, "blank: from ~/.ssh/config, else your local user name")
                yield from self._field("key", "Key file", values.key, "blank: the SSH agent and default keys (~/.ssh/id_*)")
                with Horizontal(classes="form-row"):
                    yield Label("Use agent", classes="form-label")
                    yield Switch(values.agent, id="agent")
                    yield Static("offer the keys held by ssh-agent", classes="form-help")
                yield from self._field("jump", "Jump host", values.jump, "optional: [user@]host[:port]")
                with Horizontal(classes="form-row"):
                    yield Label("Use sudo", classes="form-label")
                    yield Switch(values.sudo, id="sudo")
                    yield Static("run root-only reads with sudo -n", classes="form-help")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

        yield Footer()
    def _field(self, name: str, label: str, value: str, placeholder: str) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            with Vertical(classes="form-input"):
                yield Input(value, placeholder=placeholder, id=name)
                yield Static("", id=f"{name}-error", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def current_values(self) -> FormValues:
        text = {name: self.query_one(f"#{name}", Input).value for name in TEXT_FIELDS}
        return FormValues(agent=self.query_one("#agent", Switch).value, sudo=self.query_one("#sudo", Switch).value,
                          **text)

    def show_errors(self, errors: dict[str, str]) -> None:
        for name in TEXT_FIELDS:
            message = errors.get(name)
            error = self.query_one(f"#{name}-error", Static)
            error.update(Content(message or ""))
            error.set_class(bool(message), "-shown")
            self.query_one(f"#{name}", Input).set_class(bool(message), "-field-error")
        first = next((name for name in TEXT_FIELDS if name in errors), None)
        if first:
            self.query_one(f"#{first}", Input).focus()

    def action_save(self) -> None:
        result = validate_profile(self.current_values(), self.config, self.original.name if self.original else None)
        if isinstance(result, dict):
            self.show_errors(result)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter in a field moves on, like a paper form; enter in the last one saves.
        event.stop()
        if event.input.id == "jump":
            self.action_save()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
