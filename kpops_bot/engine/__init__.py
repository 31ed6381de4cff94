"""Rendering: how a pipeline of a repository at a revision becomes its enriched config and manifests.

`pool` runs renders in fresh kpops processes (`zygote`, `child`) and `lazy` starts one per kpops release on the first
render that is not cached; `targets` renders pipelines of commits through the pool and the `cache`; `affected` says
which pipelines a change affects. The values renders produce live in `kpops_bot.model.render`, the dry run that
diffs two sides in `kpops_bot.dryrun`.

This package has no face of its own: everyone imports the module that holds a name. A lazy face (names loaded on
first use) hid each import's cost, was bypassed by most callers anyway, and made `from kpops_bot.engine import X`
point at the package, so the architecture test could not see which module a caller depends on. The fork server
imports `kpops_bot.engine.child`, which therefore must not pay for git, the diff or the pool: this file stays empty.
"""
