"""mailtui's terminal UI (Textual). The core never imports anything from here."""
