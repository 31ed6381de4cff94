"""How the bot runs git on repositories a render could have touched: no hook, no configured command.

A repository's own `config` and `hooks/` are files in the repository folder. If a render ever wrote there (no
sandbox, or a sandbox that failed), git would run what it planted on the bot's next command, with the bot's
token in the environment. So every git command of the bot gets configuration from the environment
(`GIT_CONFIG_COUNT`/`KEY`/`VALUE`, which overrides every configuration file):
- `core.hooksPath=/dev/null`: no hook is found, whatever `hooks/` holds;
- `core.fsmonitor=false`, `core.alternateRefsCommand=` and `credential.helper=` (an empty helper resets the
  list): the other settings that run a command on a plain fetch, commit or push;
- `protocol.ext.allow=never`: no `ext::` remote runs a command.
Settings that redirect the network (`remote.*.url`, `url.*.insteadOf`, `http.proxy`, `core.sshCommand`, ...)
cannot all be overridden this way, so the workspace also rewrites its mirror's `config` before every fetch
(`workspace.py`). The system's and the bot user's global git config are the operator's and stay in force.
"""

from __future__ import annotations

from collections.abc import Mapping

HOOKS_OFF = "/dev/null"
_SAFE_CONFIG = (
    ("core.hooksPath", HOOKS_OFF),
    ("core.fsmonitor", "false"),
    ("core.alternateRefsCommand", ""),
    ("credential.helper", ""),
    ("protocol.ext.allow", "never"),
)


def safe_git_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (git variables such as `http_auth_env`'s) plus the overrides above, after the entries it has."""
    safe = dict(env or {})
    count = int(safe.get("GIT_CONFIG_COUNT", "0"))
    for index, (key, value) in enumerate(_SAFE_CONFIG, start=count):
        safe[f"GIT_CONFIG_KEY_{index}"] = key
        safe[f"GIT_CONFIG_VALUE_{index}"] = value
    safe["GIT_CONFIG_COUNT"] = str(count + len(_SAFE_CONFIG))
    safe["GIT_TERMINAL_PROMPT"] = "0"
    return safe
