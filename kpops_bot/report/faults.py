"""What the bot shows while it waits out a fault of its surroundings (`kpops_bot.faults`): never a failure, only
that the work waits, and why, in the words of the fault's message (its part before the first ": ")."""

from __future__ import annotations

from kpops_bot.faults import TransientFault


def waiting_for_retry(fault: TransientFault) -> str:
    """The pending status description of work that met a transient fault and runs again later."""
    return f"Waiting to retry: {str(fault).partition(': ')[0]}"
