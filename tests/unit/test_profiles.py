"""Config: TOML round trip, 0600, validation errors that name the file and the key."""

import stat

import pytest

from mailtui.core.profiles import Config, ConfigError, ServerProfile, Settings, load_config, save_config


def test_round_trip_and_mode(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    config = Config(path=path, settings=Settings(known_hosts="user", theme="mailtui-light")).with_server(
        ServerProfile("mail", "mail.example.org", 2222, "admin", "~/.ssh/id_ed25519", True, "jump@bastion:22", False)
    ).with_server(ServerProfile("v6", "2001:db8::25"))
    save_config(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_config(path)
    assert loaded.servers == config.servers
    assert loaded.settings == config.settings
    assert "password" not in path.read_text()


def test_missing_file_is_empty_config(tmp_path):
    config = load_config(tmp_path / "none.toml")
    assert config.servers == ()
    assert config.known_hosts_path == tmp_path / "known_hosts"


def test_env_override(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[servers.a]\nhost = "a.example"\n')
    monkeypatch.setenv("MAILTUI_CONFIG", str(path))
    assert load_config().server("a").host == "a.example"


@pytest.mark.parametrize(
    ("document", "key", "words"),
    [
        ('[servers.mail]\nhost = "x.example"\nprot = 22\n', "servers.mail.prot", "unknown setting"),
        ('[servers.mail]\nhost = "x.example"\nport = 70000\n', "servers.mail.port", "1 to 65535"),
        ('[servers.mail]\nhost = "x.example"\nport = "22"\n', "servers.mail.port", "whole number"),
        ('[servers.mail]\nport = 22\n', "servers.mail.host", "missing"),
        ('[servers.mail]\nhost = "bad host!"\n', "servers.mail.host", "not a host name"),
        ('[servers.mail]\nhost = "x.example"\nsudo = "yes"\n', "servers.mail.sudo", "true or false"),
        ('[servers."bad name"]\nhost = "x.example"\n', "servers.bad name", "letters, digits"),
        ('[settings]\nknown_hosts = "elsewhere"\n', "settings.known_hosts", "one of"),
        ("servers = [1]\n", "servers", "must be a table"),
        ("[servers.mail\n", "(file)", "not valid TOML"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path, document, key, words):
    path = tmp_path / "config.toml"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert caught.value.key == key
    assert words in message


def test_save_refuses_invalid_profile(tmp_path):
    config = Config(path=tmp_path / "c.toml").with_server(ServerProfile("ok", "x.example", port=0))
    with pytest.raises(ConfigError):
        save_config(config)
    assert not (tmp_path / "c.toml").exists()
