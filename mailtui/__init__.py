"""mailtui: see and fix the security of a small self-hosted mail server."""

__version__ = "0.1.0"
