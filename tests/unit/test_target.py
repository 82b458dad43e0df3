"""TARGET: profile name, local, ~/.ssh/config alias, [user@]host[:port]."""

import pytest

from mailtui.core.profiles import Config, ServerProfile
from mailtui.core.target import LocalTarget, TargetError, parse_address, resolve_target, ssh_config_aliases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail.example.org", (None, "mail.example.org", None)),
        ("root@mail.example.org", ("root", "mail.example.org", None)),
        ("admin@192.0.2.5:2222", ("admin", "192.0.2.5", 2222)),
        ("[2001:db8::1]:2200", (None, "2001:db8::1", 2200)),
        ("2001:db8::1", (None, "2001:db8::1", None)),
        ("u@[::1]", ("u", "::1", None)),
    ],
)
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["host:99999", "host:abc", "bad host", "[::1", "us er@host", "host;rm -rf /", "-oProxyCommand=x"])
def test_parse_address_rejects(text):
    with pytest.raises(TargetError):
        parse_address(text)


def test_resolution_order(tmp_path):
    ssh_config = tmp_path / "ssh_config"
    (tmp_path / "extra.conf").write_text("Host included-alias\n  HostName 192.0.2.9\n")
    ssh_config.write_text(
        f"Host mx1 mx1.alias\n  HostName 192.0.2.7\nHost *.wild\n  User x\nInclude {tmp_path}/extra.conf\n"
    )
    config = Config(path=tmp_path / "c.toml").with_server(ServerProfile("mx1", "192.0.2.1", 2222))
    assert resolve_target(None, config) == LocalTarget()
    assert resolve_target("local", config) == LocalTarget()
    assert resolve_target("mx1", config).port == 2222  # the profile wins over the alias
    assert resolve_target("mx1.alias", config, ssh_config=ssh_config) == ServerProfile("mx1.alias", "mx1.alias")
    assert resolve_target("included-alias", config, ssh_config=ssh_config).host == "included-alias"
    assert ssh_config_aliases(ssh_config) == ["mx1", "mx1.alias", "included-alias"]
    target = resolve_target("bob@192.0.2.3:2200", config, ssh_config=ssh_config)
    assert (target.user, target.host, target.port) == ("bob", "192.0.2.3", 2200)
    with pytest.raises(TargetError, match="not a saved server"):
        resolve_target("no such:thing", config, ssh_config=ssh_config)
