"""kpops versions: which one a deployment repository pins, and the Python environment that runs it.

- `pin`: the pin, read from the repository's files at a revision (pure);
- `index`: the pin resolved to a release with the package index, or with the environments already built;
- `environments`: one environment per release, built on demand with uv, shared, pruned when unused.
"""
