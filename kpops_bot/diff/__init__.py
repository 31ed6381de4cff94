"""Dry-run diff: what a change does to each affected pipeline, as a pure model."""
