from __future__ import annotations

import io
import logging

import pytest

from kpops_bot.masking import CHANGED_MASK, MASK, Masker, mask_logs


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "connection.password",
        "SASL_PASSWORD",
        "sasl.jaas.config",
        "apiToken",
        "aws.secret.access.key",
        "ssl.keystore.password",
        "private_key",
        "credentials",
        "schema.registry.basic.auth.user.info.secret",
    ],
)
def test_secret_looking_keys_are_secret(key: str) -> None:
    assert Masker().is_secret_key(key)


@pytest.mark.parametrize("key", ["secretName", "secretKeyRef", "password.file", "tasks.max", "topics", "name", 3])
def test_references_and_plain_keys_are_not_secret(key: object) -> None:
    assert not Masker().is_secret_key(key)


def test_unchanged_secret_is_masked_alike_on_both_sides() -> None:
    base, head = Masker().mask_pair({"config": {"connection.password": "a"}}, {"config": {"connection.password": "a"}})
    assert base == head == {"config": {"connection.password": MASK}}


def test_changed_secret_shows_that_it_changed_without_the_value() -> None:
    base, head = Masker().mask_pair({"password": "old-secret"}, {"password": "new-secret"})
    assert base == {"password": MASK}
    assert head == {"password": CHANGED_MASK}


def test_added_and_removed_secrets_are_masked() -> None:
    base, head = Masker().mask_pair({"a": 1, "token": "t0k3n-old"}, {"a": 1, "api_key": "k3y-new"})
    assert base == {"a": 1, "token": MASK}
    assert head == {"a": 1, "api_key": MASK}


def test_whole_subtree_under_a_secret_key_is_masked() -> None:
    masked = Masker().mask({"credentials": {"user": "u", "pass": "p", "list": ["x", 1]}})
    assert masked == {"credentials": {"user": MASK, "pass": MASK, "list": [MASK, MASK]}}


def test_kubernetes_secret_data_and_string_data_are_masked_but_metadata_is_not() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"user": "dXNlcg=="},
        "stringData": {"url": "jdbc://h"},
    }
    changed = {**secret, "data": {"user": "b3RoZXI="}}
    base, head = Masker().mask_resource_pair(secret, changed)
    assert base["metadata"] == {"name": "creds"}
    assert base["data"] == {"user": MASK}
    assert head["data"] == {"user": CHANGED_MASK}
    assert head["stringData"] == {"url": MASK}


def test_data_of_other_kinds_is_not_masked() -> None:
    config_map = {"kind": "ConfigMap", "data": {"url": "jdbc://h"}}
    assert Masker().mask_resource(config_map) == config_map


def test_env_entries_named_like_secrets_have_their_value_masked() -> None:
    env = [{"name": "APP_PASSWORD", "value": "hunter22"}, {"name": "APP_TOPIC", "value": "t"}]
    assert Masker().mask({"env": env}) == {"env": [{"name": "APP_PASSWORD", "value": MASK}, env[1]]}


def test_list_items_pair_by_name_so_an_insertion_does_not_look_like_a_change() -> None:
    base = [{"name": "A_PASSWORD", "value": "same-value"}]
    head = [{"name": "NEW", "value": "x"}, {"name": "A_PASSWORD", "value": "same-value"}]
    _, masked_head = Masker().mask_pair({"env": base}, {"env": head})
    assert masked_head["env"][1] == {"name": "A_PASSWORD", "value": MASK}


def test_known_secrets_are_replaced_inside_any_text() -> None:
    masker = Masker.create(known_secrets=["s3cr3t-value", "ab"])
    text = "jdbc://user:s3cr3t-value@host/ab"
    assert masker.mask_text(text) == "jdbc://user:***@host/ab"  # too short a secret is not masked
    assert masker.mask({"url": text}) == {"url": "jdbc://user:***@host/ab"}


def test_a_changed_known_secret_inside_text_is_shown_as_changed() -> None:
    masker = Masker.create(known_secrets=["first-secret", "second-secret"])
    base, head = masker.mask_pair({"url": "u:first-secret@h"}, {"url": "u:second-secret@h"})
    assert base == {"url": "u:***@h"}
    assert head == {"url": "u:***@h (changed)"}


def test_custom_key_words_replace_the_defaults() -> None:
    masker = Masker.create(key_words=["pin"])
    assert masker.mask({"PIN": "1234", "password": "p"}) == {"PIN": MASK, "password": "p"}


def test_log_records_are_masked_in_message_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("kpops_bot.test_masking")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        mask_logs(Masker.create(known_secrets=["tok-123456"]), logger)
        logger.warning("token %s rejected", "tok-123456")
        try:
            raise ValueError("bad credentials tok-123456")
        except ValueError:
            logger.exception("call failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "tok-123456" not in output
    assert "token *** rejected" in output
    assert "ValueError: bad credentials ***" in output


def test_records_without_secrets_keep_their_arguments_for_formatters_that_read_them() -> None:
    class AccessFormatter(logging.Formatter):  # as uvicorn's access log: unpacks the record's arguments
        def formatMessage(self, record: logging.LogRecord) -> str:
            client, method, path = record.args  # type: ignore[misc]
            return f"{client} {method} {path}"

    stream = io.StringIO()
    logger = logging.getLogger("kpops_bot.test_masking_access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter())
    logger.addHandler(handler)
    try:
        mask_logs(Masker.create(known_secrets=["tok-123456"]), logger)
        logger.info('%s - "%s %s"', "127.0.0.1", "GET", "/healthz")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "127.0.0.1 GET /healthz\n"
