"""The check of the fake GitHub against GitHub's published OpenAPI description (`testbed/github_openapi.py`,
which every `running_github` applies to the bot's requests): it knows GitHub's operations, bodies and statuses."""

from __future__ import annotations

import json

from testbed.github_openapi import OCTOKIT_OPENAPI_VERSION, SPEC, Exchange, grouped, problems

SHA = "a" * 40


def test_the_installed_description_is_the_recorded_version() -> None:
    package = json.loads((SPEC.parent.parent / "package.json").read_text(encoding="utf-8"))
    assert package["version"] == OCTOKIT_OPENAPI_VERSION


def test_an_operation_github_does_not_describe_is_named() -> None:
    """PyGithub's `Commit.get_statuses` asks `statuses/{sha}`; GitHub describes `commits/{ref}/statuses`."""
    legacy = problems(Exchange("GET", f"/repos/acme/d/statuses/{SHA}", None, 200, []))
    assert legacy == [f"GET /repos/acme/d/statuses/{SHA} → 200: GitHub has no such operation"]
    assert problems(Exchange("GET", f"/repos/acme/d/commits/{SHA}/statuses", None, 200, [])) == []


def test_a_request_body_github_refuses_is_named() -> None:
    wrong = problems(Exchange("POST", f"/repos/acme/d/statuses/{SHA}", {"state": "maybe"}, 201, None))
    assert len(wrong) == 1 and "request state: 'maybe' is not one of" in wrong[0]
    assert problems(Exchange("POST", f"/repos/acme/d/statuses/{SHA}", {"state": "success"}, 201, None)) == []


def test_a_success_github_does_not_give_is_named_a_refusal_is_not() -> None:
    created = problems(Exchange("POST", "/repos/acme/d/issues/3/comments", {"body": "hi"}, 200, None))
    assert created == [
        "POST /repos/acme/d/issues/3/comments → 200: status not documented (documented: 201, 403, 404, 410, 422)"
    ]
    assert problems(Exchange("GET", "/app", None, 401, {"message": "Bad credentials"})) == []


def test_an_answer_is_checked_against_its_schema_nulls_as_openapi_allows_them() -> None:
    reaction = {
        "id": 1,
        "node_id": "MDg6UmVhY3Rpb24x",
        "user": None,  # `nullable-simple-user`
        "content": "eyes",
        "created_at": "2026-12-05T15:00:00Z",
    }
    path = "/repos/acme/d/issues/comments/7/reactions"
    assert problems(Exchange("POST", path, {"content": "eyes"}, 201, reaction)) == []
    incomplete = problems(Exchange("POST", path, {"content": "eyes"}, 201, {"id": 1, "content": "eyes"}))
    assert f"POST {path} → 201: response (root): 'node_id' is a required property" in incomplete
    late = problems(Exchange("POST", path, {"content": "eyes"}, 201, reaction | {"created_at": "yesterday"}))
    assert late == [f"POST {path} → 201: response created_at: 'yesterday' is not a 'date-time'"]


def test_a_refusal_is_checked_against_the_error_github_documents_for_it() -> None:
    """`422` refers to the shared `validation_failed` answer, whose `validation-error` needs `documentation_url`."""
    path = "/repos/acme/d/issues/3/comments"
    bare = {"message": "Validation Failed", "errors": [{"code": "custom", "field": "body"}]}
    assert problems(Exchange("POST", path, {"body": "x"}, 422, bare)) == [
        f"POST {path} → 422: response (root): 'documentation_url' is a required property"
    ]
    documented = bare | {"documentation_url": "https://docs.github.com/rest"}
    assert problems(Exchange("POST", path, {"body": "x"}, 422, documented)) == []


def test_findings_are_grouped_by_cause() -> None:
    found = [
        f"GET /repos/acme/d/issues/{number} → 200: response user/login: 7 is not of type 'string'"
        for number in (1, 2, 3)
    ]
    assert grouped(found) == ["3 x GET /repos/acme/d/issues/* → 200: response user/login: 7 is not of type 'string'"]


def test_a_url_parameter_github_does_not_take_or_a_value_it_refuses_is_named() -> None:
    path = "/repos/acme/d/pulls"
    listed = [("state", "open"), ("per_page", "100"), ("page", "2")]
    assert problems(Exchange("GET", path, None, 200, [], tuple(listed))) == []
    wrong = problems(Exchange("GET", path, None, 200, [], (("state", "merged"), ("per_page", "many"), ("q", "x"))))
    assert wrong[0] == f"GET {path} → 200: query parameter state: 'merged' is not one of ['open', 'closed', 'all']"
    assert wrong[1] == f"GET {path} → 200: query parameter per_page: 'many' is not of type 'integer'"
    assert wrong[2].startswith(f"GET {path} → 200: query parameter 'q' is not one of the operation's (base, direction")
