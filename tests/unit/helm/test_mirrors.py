from __future__ import annotations

import pytest

from kpops_bot.helm.mirrors import ChartMirrors, InvalidMirrorError

UPSTREAM = "https://bakdata.github.io/streams-bootstrap/"


def test_a_mirror_matches_by_repository_name() -> None:
    mirrors = ChartMirrors.from_pairs(["bakdata-streams-bootstrap=http://127.0.0.1:9/"])
    assert mirrors.apply("bakdata-streams-bootstrap", UPSTREAM) == "http://127.0.0.1:9/"
    assert mirrors.apply("other", UPSTREAM) == UPSTREAM


def test_a_mirror_matches_by_url_with_or_without_trailing_slash() -> None:
    mirrors = ChartMirrors.from_pairs(["https://bakdata.github.io/streams-bootstrap=https://mirror.internal/sb/"])
    assert mirrors.apply("any-name", UPSTREAM) == "https://mirror.internal/sb/"


def test_name_wins_over_url() -> None:
    mirrors = ChartMirrors.from_pairs([f"{UPSTREAM}=https://by-url/", "sb=https://by-name/"])
    assert mirrors.apply("sb", UPSTREAM) == "https://by-name/"


def test_round_trips_through_json() -> None:
    mirrors = ChartMirrors.from_pairs(["a=https://x/", "b=https://y/"])
    assert ChartMirrors.from_json(mirrors.to_json()) == mirrors
    assert not ChartMirrors.from_json("")


@pytest.mark.parametrize("pair", ["no-separator", "=https://x/", "name=", "name=not-a-url"])
def test_malformed_pairs_are_refused(pair: str) -> None:
    with pytest.raises(InvalidMirrorError):
        ChartMirrors.from_pairs([pair])
