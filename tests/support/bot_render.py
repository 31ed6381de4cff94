"""Renders a repository's pipelines as the running bot does, for tests that start it as a process of its own.

It goes through the bot's `Services`: the data folder made private (0711, the database 0600, mirrors and render
cache 0700), the environments of kpops releases built under it, renders sandboxed as the settings say. The `uid`
layer needs the bot's Python readable by other uids, which only a process started under
`hostile.python_readable_by_others` has on this machine. Prints the renders as JSON.

    python -m tests.support.bot_render SETTINGS_JSON SETTINGS_FILE REPOSITORY
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kpops_bot.engine.targets import render_revision
from kpops_bot.model.render import RenderSpec
from kpops_bot.services import Services
from kpops_bot.settings import BotSettings


def main(settings_json: str, settings_file: str, repository: str) -> None:
    services = Services.create(BotSettings(**json.loads(settings_json)), config_file=Path(settings_file))
    try:
        pool = services.pools.get(trusted=True)
        renders = render_revision(services.workspace, pool, repository, "HEAD", [], RenderSpec())
    finally:
        services.close()
    print(json.dumps([render.model_dump(mode="json") for render in renders]))


if __name__ == "__main__":
    main(*sys.argv[1:])
