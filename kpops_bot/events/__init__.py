"""Forge webhooks → the bot's own typed events, by pure functions (no I/O), one module per forge."""
