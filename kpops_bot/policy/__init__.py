"""Policy as code: the repository's and the organisation's Rego rules, as conftest reads them, judging every preview.

`kpops_bot.model.policy` says what a policy set and a finding are, `load` reads a folder (from disk, or from git at the
base revision), `evaluate` runs the rules in a bounded child process (`child`), `inputs` builds what the rules see,
`judge` turns findings into the diff's risks, `verify` runs the `test_` rules as `conftest verify` does, `gate` judges
what a deploy or an apply acts on.
"""
