"""Typed jobs: each kind is read as the payload type it carries (the one its workflow declares), rows queued before
typed jobs still read, and what cannot be read is an `UnreadableJobError` that says why."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, get_args, get_type_hints

import pytest

from kpops_bot.events.codec import dump_event
from kpops_bot.events.model import Forge
from kpops_bot.jobs import (
    CARRIES,
    CommandRequest,
    DriftCheck,
    JobKind,
    JobPayload,
    JobState,
    NewJob,
    StoredJob,
    UnreadableJobError,
    decode,
    decode_payload,
    encode,
)
from kpops_bot.workflows.apply import ApplyWorkflow
from kpops_bot.workflows.close import CloseWorkflow
from kpops_bot.workflows.commands import CommandWorkflow
from kpops_bot.workflows.drift import DriftWorkflow
from kpops_bot.workflows.preview import PreviewWorkflow
from tests.support.workflow_kit import HEAD, comment_event, pull_request_event, push_event

COMMENT = comment_event("/kpops deploy word-count")
PAYLOADS: list[tuple[JobKind, JobPayload]] = [
    (JobKind.PREVIEW, pull_request_event()),
    (JobKind.CLOSE, pull_request_event()),
    (JobKind.APPLY, pull_request_event(merge_commit_sha="b" * 40)),
    (JobKind.APPLY, push_event()),
    (JobKind.COMMAND, CommandRequest(COMMENT)),
    (JobKind.COMMAND, CommandRequest(COMMENT, resumed=True, head=HEAD)),
    (JobKind.DRIFT, DriftCheck(Forge.GITLAB, "acme/platform/deployments", "main")),
]
WORKFLOWS: dict[JobKind, type] = {
    JobKind.PREVIEW: PreviewWorkflow,
    JobKind.CLOSE: CloseWorkflow,
    JobKind.APPLY: ApplyWorkflow,
    JobKind.COMMAND: CommandWorkflow,
    JobKind.DRIFT: DriftWorkflow,
}


def _stored(kind: str, payload: str) -> StoredJob:
    return StoredJob(
        id=3, key="k", head_sha=None, state=JobState.RUNNING, attempts=1, lease_owner="w", outcome=None,
        kind=kind, payload=payload,
    )  # fmt: skip


@pytest.mark.parametrize(("kind", "payload"), PAYLOADS, ids=lambda value: getattr(value, "value", type(value).__name__))
def test_each_kind_reads_back_as_the_type_it_carries(kind: JobKind, payload: JobPayload) -> None:
    job = decode(_stored(kind.value, encode(payload)))
    assert (job.kind, job.payload, job.id, job.attempts) == (kind, payload, 3, 1)
    assert isinstance(job.payload, CARRIES[kind])


@pytest.mark.parametrize("kind", list(JobKind))
def test_each_workflow_declares_the_payload_its_kind_carries(kind: JobKind) -> None:
    """The worker reads a job by its kind; the workflow of that kind takes exactly those types."""
    workflow = WORKFLOWS[kind]
    for method in (workflow.run, workflow.give_up):
        (declared,) = get_args(get_type_hints(method)["job"])
        assert set(get_args(declared) or (declared,)) == set(CARRIES[kind]), method


def _old_command(**smuggled: Any) -> str:
    """A command's payload as kpops-bot before typed jobs wrote it: the comment event, the flag and head beside."""
    return json.dumps({**dump_event(COMMENT), **smuggled})


def test_a_command_queued_before_typed_jobs_reads_with_its_resumed_flag_and_head() -> None:
    assert decode(_stored("command", _old_command())).payload == CommandRequest(COMMENT)
    resumed = decode(_stored("command", _old_command(resumed=True, head=HEAD))).payload
    assert resumed == CommandRequest(COMMENT, resumed=True, head=HEAD)
    assert json.loads(encode(resumed))["type"] == "command"  # written anew in the typed shape, not the old one


@pytest.mark.parametrize(
    ("kind", "payload", "why"),
    [
        ("rebase", encode(pull_request_event()), "unknown job kind 'rebase'"),
        ("preview", "{not json", "the payload of a preview job is not JSON"),
        ("preview", "[1, 2]", "the payload of a preview job cannot be read: TypeError: the payload is not a JSON"),
        ("preview", json.dumps({"type": "pull_request", "event": {}}), "cannot be read: delivery: Field required"),
        ("preview", json.dumps({"type": "tag", "event": {}}), "cannot be read: KeyError: 'tag'"),
        ("preview", encode(push_event()), "a preview job carries PullRequestEvent, its payload is a PushEvent"),
        ("apply", json.dumps(dump_event(COMMENT)), "cannot be read: TypeError: a comment runs commands only"),
        ("command", encode(pull_request_event()), "cannot be read: comment: Field required"),
        (
            "command",
            json.dumps({"type": "comment", "event": {"number": 1}}),
            "cannot be read: delivery: Field required",
        ),
        ("drift", json.dumps({"forge": "gitea", "full_name": "a/b", "branch": "main"}), "cannot be read: forge:"),
    ],
)
def test_a_job_that_cannot_be_read_says_why(kind: str, payload: str, why: str) -> None:
    with pytest.raises(UnreadableJobError) as raised:
        decode(_stored(kind, payload))
    assert why in str(raised.value)


def test_a_new_job_takes_only_a_payload_its_kind_carries() -> None:
    with pytest.raises(TypeError, match="a command job carries CommandRequest, not PullRequestEvent"):
        NewJob("k", JobKind.COMMAND, pull_request_event())
    assert NewJob("k", "drift", PAYLOADS[-1][1]).kind is JobKind.DRIFT  # type: ignore[arg-type]  # a kind's value


def test_the_supersede_rule_names_the_key_and_kinds() -> None:
    preview = NewJob("pr", JobKind.PREVIEW, pull_request_event(), supersedes=("preview",))  # type: ignore[arg-type]
    merge = replace(preview, key="branch", kind=JobKind.APPLY, supersedes_key="pr")
    assert preview.superseded == [("pr", JobKind.PREVIEW)]  # a comment is never made pointless by a push
    assert merge.superseded == [("pr", JobKind.PREVIEW)]  # its pull request's previews, not its branch's jobs
    assert NewJob("c", JobKind.COMMAND, CommandRequest(COMMENT)).superseded == []


def test_decode_payload_is_what_the_lock_line_and_the_intake_channel_read_with() -> None:
    kind, payload = decode_payload("command", json.loads(_old_command(resumed=True, head=HEAD)))
    assert (kind, payload) == (JobKind.COMMAND, CommandRequest(COMMENT, resumed=True, head=HEAD))
