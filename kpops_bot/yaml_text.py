"""YAML as the bot writes it, one way for GitOps files, diffs and the command line's output.

Keys keep their order, non-ASCII text stays as it is (a diff shows what the file holds), block style, no line
folding. PyYAML, not ruamel.yaml: the bot only writes YAML it generated and never edits a person's file, so
keeping comments and layout on a round trip is not needed.
"""

from __future__ import annotations

from typing import Any

import yaml


def dump_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000)
