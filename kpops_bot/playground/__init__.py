"""Forge stand-ins for trying the bot out on one machine (`kpops-bot playground`), and what the tests and bench drive.

GitHub's REST API (`fake_github`) and GitLab's (`fake_gitlab`) as the bot's clients call them, with git over smart
HTTP for the hosted repositories, on loopback. Both live here, shipped, so that nothing outside the tests' tree has to
reach into it for a forge; only the command line imports this package from the bot.
"""
