"""The store's schema changes, as alembic revisions; `kpops_bot.store.Store.migrate` applies them.

A schema change is a new revision in `versions/` (`down_revision` the previous one), never an edit of an old one.
"""
