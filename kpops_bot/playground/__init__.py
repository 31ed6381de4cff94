"""A forge stand-in for trying the bot out on one machine (`kpops-bot playground`), and what the tests drive.

GitHub's REST API as the bot's client calls it, with git over smart HTTP for the hosted repositories, on loopback.
"""
