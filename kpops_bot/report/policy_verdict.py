"""The answer of a deploy or an apply that the policies refused: which rules deny, in which pipeline, where.

Pure: a verdict in, markdown out. Every message is the report's (masked, rule and names in code spans), shown with
`composed` as the preview shows it.
"""

from __future__ import annotations

from kpops_bot.escape import code, composed, text
from kpops_bot.policy.verdict import Denial, Refused, Unjudged

_SHOWN = 20  # denials listed; the rest are counted (the preview lists them all)


def refusal(verdict: Refused | Unjudged, nothing_done: str) -> str:
    """`nothing_done`: what did not happen (`nothing was deployed`)."""
    if isinstance(verdict, Unjudged):
        return f"🚫 A policy could not be evaluated, so {nothing_done}: {composed(verdict.reason)}"
    lines = [_denial(denial) for denial in verdict.denials[:_SHOWN]]
    more = len(verdict.denials) - _SHOWN
    if more > 0:
        lines.append(f"- … and {more} more (the preview lists them all)")
    return f"🚫 The policies deny this, so {nothing_done}:\n\n" + "\n".join(lines)


def _denial(denial: Denial) -> str:
    where = f" at {code(f'{denial.file}:{denial.line}')}" if denial.file is not None else ""
    environment = f" ({text(denial.environment)})" if denial.environment else ""
    return f"- {code(denial.pipeline)}{environment}{where}: {composed(denial.message)}"
