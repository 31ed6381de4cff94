"""Connecting a forge to the bot: the GitHub App manifest flow and the GitLab project hook, from `webhooks/`."""
