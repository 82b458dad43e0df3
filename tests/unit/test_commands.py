"""Commands are argument lists, quoted once; hostile values arrive as plain data."""

import pytest

from mailtui.core.transport import InvalidCommand, LocalTransport, shell_command

HOSTILE_ARGS = [
    "x; rm -rf /tmp/mailtui-should-not-exist",
    "$(touch /tmp/mailtui-pwned)",
    "`id`",
    "a'b\"c",
    "new\nline",
    "--option-looking",
    "*",
    "$HOME ${PATH}",
    "",
]


def test_shell_command_quotes_each_argument():
    assert shell_command(["postconf", "-e", "smtpd_banner = $myhostname ESMTP"]) == (
        "postconf -e 'smtpd_banner = $myhostname ESMTP'"
    )
    assert shell_command(["echo", "a'b"]) == "echo 'a'\"'\"'b'"


@pytest.mark.parametrize("bad", [[], "echo hi", ["echo", "nul\x00byte"], ["echo", 5]])
def test_invalid_commands_are_never_sent(bad):
    with pytest.raises(InvalidCommand):
        shell_command(bad)


async def test_hostile_arguments_arrive_verbatim_through_a_real_shell(tmp_path):
    # Run through `sh -c` exactly as the SSH transport sends a command string.
    transport = LocalTransport()
    await transport.connect()
    pwned = tmp_path / "pwned"
    for arg in [*HOSTILE_ARGS, f"$(touch {pwned})", f"; touch {pwned}", f"' ; touch {pwned}; '"]:
        command = shell_command(["printf", "%s", arg])
        result = await transport.run(["sh", "-c", command])
        assert result.ok
        assert result.stdout == arg
    assert not pwned.exists()
