"""`mailtui logs --file`: classified events as text, JSON lines, and a summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LINES = [
    "Nov 29 14:34:53 mail postfix/smtpd[101]: warning: unknown[203.0.113.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 29 14:34:54 mail postfix/smtpd[102]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 454 4.7.1 "
    "<x@elsewhere.example>: Relay access denied; from=<a@b.example> to=<x@elsewhere.example> proto=ESMTP helo=<probe>",
    "Nov 29 14:34:55 mail postfix/smtpd[103]: lost connection after CONNECT from unknown[192.0.2.9]",
    "Nov 29 14:34:56 mail postfix/smtpd[104]: connect from evil\x1b]52;c;aGk=\x07[/b][192.0.2.10]",
    "this is not a log line at all",
]


def mailtui(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailtui", "logs", *args], input=stdin, capture_output=True, timeout=60)


def _file(tmp_path, extra: bytes = b"") -> str:
    path = tmp_path / "mail.log"
    path.write_bytes("\n".join(LINES).encode() + b"\n" + extra)
    return str(path)


def test_json_has_one_object_per_input_line_with_the_documented_fields(tmp_path):
    result = mailtui("--file", _file(tmp_path, b"user \xff\xfe invalid utf-8\n" + b"A" * 1_000_000 + b"\n"), "--json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(objects) == len(LINES) + 2
    for obj in objects:
        assert {"time", "program", "kind", "severity", "ip", "user", "queue_id", "attack", "line"} <= obj.keys()
        assert "\x1b" not in obj["line"]
    sasl, relay, lost, hostile, other, invalid, huge = objects
    assert (sasl["kind"], sasl["ip"], sasl["attack"], sasl["program"]) == ("smtp.sasl_failed", "203.0.113.5", True, "postfix/smtpd")
    assert sasl["time"].startswith(f"{sasl['time'][:4]}-11-29T14:34:53")
    assert (relay["kind"], relay["ip"], relay["attack"]) == ("reject.relay", "198.51.100.7", True)
    assert (lost["kind"], lost["ip"]) == ("smtp.lost_connection", "192.0.2.9")
    assert "\\x1b]52" in hostile["line"] and "[/b]" in hostile["line"]
    assert other["kind"] == "other" and other["attack"] is False
    assert "\\xff\\xfe" in invalid["line"]
    assert len(huge["line"]) < 10_000


def test_stdin_and_human_output(tmp_path):
    data = "\n".join(LINES).encode() + b"\n"
    result = mailtui("--file", "-", stdin=data)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "smtp.sasl_failed" in out and "203.0.113.5" in out
    assert "\x1b" not in out


def test_summary_json_and_text(tmp_path):
    path = _file(tmp_path)
    summary = json.loads(mailtui("--file", path, "--summary", "--json").stdout)
    assert summary["lines"] == len(LINES)
    assert summary["by_kind"]["reject.relay"] == 1
    offenders = {o["key"]: o for o in summary["offenders"]}
    assert offenders["198.51.100.7"]["labels"][0]["label"] == "relay probing"
    text = mailtui("--file", path, "--summary").stdout.decode()
    assert "Top offenders" in text and "relay probing" in text


def test_since_filters_and_bad_since_is_a_usage_error(tmp_path):
    path = _file(tmp_path)
    year = json.loads(mailtui("--file", path, "--json").stdout.decode().splitlines()[0])["time"][:4]
    result = mailtui("--file", path, "--json", "--since", f"{year}-11-29T14:34:55+00:00")
    kinds = [json.loads(line)["kind"] for line in result.stdout.decode().splitlines()]
    assert kinds[0] == "smtp.lost_connection" and "smtp.sasl_failed" not in kinds
    bad = mailtui("--file", path, "--since", "yesterday-ish")
    assert bad.returncode == 2 and b"--since" in bad.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    result = mailtui("--file", str(tmp_path / "nope.log"))
    assert result.returncode == 2 and b"cannot read" in result.stderr


def test_summary_counts_in_bulk_exactly_as_line_by_line(tmp_path):
    """--summary counts through core.logs.bulk (regex passes, sshd and odd lines one by one):
    the same summary as classifying and counting every line."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_classify import generate

    from mailtui.core.logs.aggregate import Aggregator
    from mailtui.core.logs.classify import LogClassifier
    from mailtui.logs_cli import summary_json

    path = tmp_path / "mixed.log"
    generate(path, 30_000, seed=3)
    with path.open("ab") as handle:  # hostile and odd lines among them
        handle.write("\n".join(LINES).encode() + b"\nuser \xff\xfe invalid utf-8\n" + b"A" * 1_000_000 + b"\n")
    result = mailtui("--file", str(path), "--summary", "--json")
    assert result.returncode == 0, result.stderr
    lines = path.read_bytes().decode("utf-8", "surrogateescape").split("\n")[:-1]
    expected = Aggregator()
    expected.add_many(LogClassifier().classify_lines(lines))
    assert json.loads(result.stdout) == json.loads(json.dumps(summary_json(expected.summary()), ensure_ascii=False))
