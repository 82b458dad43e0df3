"""The findings view: grouping, order, words without colour, hostile evidence shown harmlessly."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from mailtui.core.findings import Finding, Severity, Status
from mailtui.ui.widgets.findings import (
    DetailSection,
    FindingDetail,
    FindingList,
    FindingsView,
    evidence_for,
    highlight_evidence,
    summarize,
)
from tests.ui.conftest import svg_screen_text

HOSTILE = "220 [/b][bold red]evil[/] \x1b[2J\x1b]52;c;SGVsbG8=\x07 \u202egnp.exe"


def make(id_: str, status: Status, severity: Severity, area: str, target: str = "127.0.0.1:25", **kw) -> Finding:
    return Finding(id=id_, status=status, severity=severity, title=kw.pop("title", id_), evidence=kw.pop("evidence", "ok"),
                   explanation=kw.pop("explanation", "because"), area=area, target=target, **kw)


FINDINGS = [
    make("smtp.banner", Status.PASS, Severity.LOW, "smtp"),
    make("tls.versions", Status.WARN, Severity.LOW, "tls", "127.0.0.1:25"),
    make("relay.open_relay", Status.FAIL, Severity.CRITICAL, "relay"),
    make("smtp.helo", Status.FAIL, Severity.LOW, "smtp"),
    make("tls.versions", Status.PASS, Severity.MEDIUM, "tls", "127.0.0.1:587"),
    make("ssh.banner", Status.ERROR, Severity.INFO, "ssh", "127.0.0.1:22"),
]


class ViewApp(App[None]):
    CSS_PATH = "../../mailtui/ui/app.tcss"

    def compose(self) -> ComposeResult:
        yield FindingsView(id="findings")


def option_texts(listing: FindingList) -> list[str]:
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_grouped_by_area_worst_first_with_words():
    app = ViewApp()
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(FindingsView)
        view.show(FINDINGS)
        await pilot.pause()
        texts = option_texts(view.query_one(FindingList))
        # areas by their worst finding: relay (critical fail), smtp (low fail), ssh (error), tls (warn)
        heads = [t.split()[0] for t in texts if not t.startswith(" ")]
        assert heads == ["RELAY", "SMTP", "SSH", "TLS"]
        smtp = texts[texts.index(next(t for t in texts if t.startswith("SMTP"))) + 1:][:2]
        assert "✗ FAIL" in smtp[0] and "smtp.helo" in smtp[0] and "✓ PASS" in smtp[1]
        assert "1 fail · 1 pass" in texts[2]
        # the first finding is highlighted and explained
        assert view.selected is not None and view.selected.id == "relay.open_relay"
        view.query_one(FindingList).focus()
        await pilot.press("down")
        assert view.selected.id == "smtp.helo"
        assert summarize(FINDINGS) == "2 fail · 1 error · 1 warn · 2 pass"


async def test_hostile_evidence_is_shown_as_text():
    hostile = make("smtp.banner_disclosure", Status.WARN, Severity.LOW, "smtp", evidence=HOSTILE, title=HOSTILE,
                   detail=f"# SMTP dialogue 127.0.0.1:25\nS: {HOSTILE}\nC: EHLO [/i]\nS: 250 ok",
                   config=("smtpd_banner [/b]",), fix="x[/]")
    app = ViewApp()
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(FindingsView)
        view.extras = lambda f: [DetailSection("Server log lines", (f"Nov 29 17:31:17 mail postfix/smtpd[1]: {HOSTILE}",),
                                               "log"),
                                 DetailSection("Server config", ("smtpd_banner = [/b]\x1b[31m",), "config")]
        view.show([hostile])
        await pilot.pause()
        detail = app.query_one(FindingDetail)
        shown = "\n".join(str(w.content) for w in detail.query(Static))
        assert "[/b][bold red]evil[/]" in shown
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
        assert "\\x1b[2J" in shown and "\\u202e" in shown
        assert "C: EHLO [/i]" in shown
        screen = svg_screen_text(app.export_screenshot())
        assert "[/b][bold red]evil[/]" in screen
        assert "\x1b" not in app.export_screenshot()


def test_evidence_for_picks_the_findings_own_conversation():
    f = make("tls.versions", Status.WARN, Severity.LOW, "tls", "127.0.0.1:587",
             detail="# TLS 127.0.0.1:25\nS: 220 a\n\n# TLS 127.0.0.1:587\nS: 220 b\n\n# TLS 127.0.0.1:993\n#: x")
    text, hidden = evidence_for(f)
    assert text == "# TLS 127.0.0.1:587\nS: 220 b" and hidden == 2
    assert evidence_for(f, show_all=True) == (f.detail, 0)
    plain = make("relay.open_relay", Status.PASS, Severity.CRITICAL, "relay", detail=" 1. MAIL FROM:<> -> refused")
    assert evidence_for(plain) == (plain.detail, 0)


def test_transcript_highlighting_keeps_every_character():
    text = "# head\nC: EHLO x\nS: 250-ok\nS: 554 no\n#: note\nsubject: CN=x\n" + HOSTILE
    content = highlight_evidence(text)
    assert "\x1b" not in content.plain
    assert content.plain.startswith("# head\nC: EHLO x\nS: 250-ok\nS: 554 no")
    styles = {str(span.style) for span in content.spans}
    assert "bold $text-error" in styles and "bold $text-success" in styles


async def test_the_same_key_twice_neither_crashes_nor_hides_a_different_finding():
    """Two findings may share (id, target): the same one repeated is shown once, a different
    one is kept (Textual refuses duplicate option ids: the view used to crash here)."""
    same = make("dns.dane", Status.PASS, Severity.MEDIUM, "dns", "_25._tcp.mail.example.org")
    other = make("dns.dane", Status.FAIL, Severity.MEDIUM, "dns", "_25._tcp.mail.example.org", evidence="no match")
    app = ViewApp()
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(FindingsView)
        view.show([same, same, other])
        await pilot.pause()
        listing = view.query_one(FindingList)
        assert sorted(f.status for f in listing.findings.values()) == [Status.FAIL, Status.PASS]
        assert listing.option_count == 3  # the area's heading and two findings
