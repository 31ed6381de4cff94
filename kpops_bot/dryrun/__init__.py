"""The dry run of a change: affected pipelines rendered at both sides (`kpops_bot.engine`) and diffed
(`kpops_bot.diff`), policies judged and the repository's data flow followed. It sits above both engine and diff so
that neither imports the other."""
