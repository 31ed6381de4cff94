"""Names that become folders and file names (kpops environments: `config_<env>.yaml`, `rendered/<env>/`). Pure.

Checked where they are read (the server's settings, a repository's `.kpops-bot.yaml`), so a name such as
`../../x` never reaches a path.
"""

from __future__ import annotations

import re

_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def environment_problem(name: str) -> str | None:
    """Why `name` cannot be an environment, or None when it can."""
    if _ENVIRONMENT.match(name) and ".." not in name:
        return None
    return (
        f"environment {name!r} is not a valid name: letters, digits, '.', '_' and '-', starting with a letter or "
        "digit, at most 63 characters (it names folders and files)"
    )


def check_environments(mapping: dict[str, list[str]]) -> dict[str, list[str]]:
    """A branch → environments mapping as read, or a ValueError naming the first invalid environment."""
    for names in mapping.values():
        for name in names:
            problem = environment_problem(name)
            if problem is not None:
                raise ValueError(problem)
    return mapping
