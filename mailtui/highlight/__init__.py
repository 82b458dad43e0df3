"""Syntax highlighting for text the app shows: mail server logs (Pygments lexers)."""

from mailtui.highlight.lexer import MailLogLexer

__all__ = ["MailLogLexer"]
