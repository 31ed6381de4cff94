"""No secret reaches a report, an answer or a log line, in any form: the gaps an attacker or a careless user found."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.managed import ManagedSettings
from kpops_bot.masking import MASK, Masker, mask_logs
from kpops_bot.repo_config import effective, parse_repo_config
from kpops_bot.settings import BotSettings, GitHubSettings, GitLabSettings
from testbed.repos import GitRepo
from tests.unit.test_cli import kpops_bot
from tests.unit.test_cli_diff import WORD_COUNT, diff_args

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {"greeting": "aGVsbG8="}}


def _forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode(), quote(value, safe="")]


@pytest.mark.parametrize("side", ["added", "removed"])
def test_a_secret_on_one_side_only_is_masked(side: str) -> None:
    base, head = (None, SECRET) if side == "added" else (SECRET, None)
    masked_base, masked_head = Masker().mask_resource_pair(base, head)
    shown = masked_head if side == "added" else masked_base
    assert shown["data"] == {"greeting": MASK}
    assert shown["metadata"] == {"name": "creds"}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:pw-4711@db:5432/orders", "postgresql://app:***@db:5432/orders"),
        ("redis://:pw-4711@redis:6379", "redis://:***@redis:6379"),
        ("https://ghp_token4711@github.com/acme/x.git", "https://***@github.com/acme/x.git"),
        ("jdbc:postgresql://db:5432/orders?user=app", "jdbc:postgresql://db:5432/orders?user=app"),
        (
            "db.url=x\ndb.password=pw-4711\n  api_token: tok-4711\nsecretName: creds\n",
            "db.url=x\ndb.password=***\n  api_token: ***\nsecretName: creds\n",
        ),
        ('export KAFKA_PASSWORD="pw-4711"', "export KAFKA_PASSWORD=***"),
    ],
)
def test_credentials_inside_text_are_masked(text: str, masked: str) -> None:
    assert Masker().mask_text(text) == masked


def test_auth_keys_such_as_basic_auth_user_info_are_secret() -> None:
    config = {"schema.registry.basic.auth.user.info": "app:pw-4711", "basic.auth.credentials.source": "USER_INFO"}
    assert Masker().mask(config)["schema.registry.basic.auth.user.info"] == MASK


@pytest.mark.parametrize("secret", ["s3cr3t-token-4711", 'p@ss/w:rd "quoted" \\ back', "ünïcödé-secret"])
def test_held_secrets_are_masked_in_every_encoding(secret: str) -> None:
    masker = Masker().with_secrets([secret])
    raw = secret.encode()
    shown = [
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        *(base64.b64encode(prefix + raw + b"~").decode() for prefix in (b"x-access-token:", b"u:", b":")),
    ]
    for text in shown:
        masked = masker.mask_text(f"before {text} after")
        assert masked.startswith("before ") and masked.endswith(" after")
        assert MASK in masked and text not in masked, (text, masked)
        for form in _forms(secret):
            assert form not in masked, (text, masked)


def test_previews_answers_and_logs_mask_the_same_secrets() -> None:
    settings = BotSettings(
        managed=ManagedSettings(credentials={"KPOPS_KAFKA_REST__URL": "https://u:restpw-4711@rest"}),
        github=GitHubSettings(token="ghp_forge-token-4711"),  # type: ignore[arg-type]
        gitlab=GitLabSettings(token="glpat-forge-token-4711"),  # type: ignore[arg-type]
        variables={"KAFKA_PASSWORD": "kafka-pw-4711"},
    )
    preview = effective(settings, parse_repo_config(None), "main").diff_options.masker
    answers = settings.secrets_masker()
    held = ["https://u:restpw-4711@rest", "ghp_forge-token-4711", "glpat-forge-token-4711", "kafka-pw-4711"]
    for secret in held:
        encoded = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
        for masker in (preview, answers):
            assert secret not in masker.mask_text(f"{secret} {encoded}")
            assert encoded not in masker.mask_text(encoded)
    stream = io.StringIO()
    logger = logging.getLogger("kpops-bot-masking-test")
    logger.addHandler(logging.StreamHandler(stream))
    mask_logs(answers, logger)
    header = base64.b64encode(b"x-access-token:ghp_forge-token-4711").decode()
    logger.warning("git failed with header %s", header)
    assert header not in stream.getvalue()
    assert MASK in stream.getvalue()


@pytest.fixture
def feature(deployment_repo: GitRepo) -> GitRepo:
    deployment_repo.git("checkout", "-q", "-b", "feature")
    return deployment_repo


@pytest.mark.parametrize("output", ["markdown", "json"])
def test_kpops_bot_diff_shows_no_added_secret_in_any_form(
    feature: GitRepo, chart_server: ChartServer, tmp_path: Path, output: str
) -> None:
    plain = "plain-secret-value-4711"
    password = "url-password-4711"
    feature.replace(WORD_COUNT, "replicaCount: 2", f"replicaCount: 2\n    secrets:\n      greeting: {plain}")
    feature.replace(
        WORD_COUNT, "redis.database: 0", f'redis.database: 0\n    connection.url: "redis://app:{password}@redis:6379"'
    )
    feature.commit("A Secret under a plain key and a connector URL with a password")
    completed = kpops_bot(*diff_args(feature, chart_server, str(tmp_path / "ws")), "--format", output)
    assert completed.returncode == 0, completed.stderr
    shown = completed.stdout + completed.stderr
    assert "redis://app:***@redis:6379" in shown
    assert "Secret" in shown  # the added Secret is in the report, its data masked
    for value in (plain, password):
        for form in _forms(value):
            assert form not in shown, form


def test_a_credential_url_encoded_with_its_slashes_kept_is_masked() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"  # an AWS secret key has slashes; `quote` keeps them by default
    masker = Masker().with_secrets([secret])
    for shown in (quote(secret), quote(secret).replace("%2F", "%2f"), quote(secret, safe="").replace("%2F", "%2f")):
        masked = masker.mask_text(f"s3://bucket?key={shown}&x=1")
        assert shown not in masked and masked == f"s3://bucket?key={MASK}&x=1", (shown, masked)
    spaced = "a secret with/slash"
    assert masker.with_secrets([spaced]).mask_text(f"q={quote_plus(spaced, safe='/')}") == f"q={MASK}"


def test_pass_env_values_whose_names_do_not_look_secret_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"DB_PASS": "db-pass-4711", "DSN": "dsn-value-4711", "SIGNING_KEY": "signing-4711"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = BotSettings(
        pass_env=[*values, "REGION_NAME"],
        variables={"DATABASE_URL": "postgres://db.internal/orders"},
        public_variables=["REGION_NAME"],
    )
    preview = effective(settings, parse_repo_config(None), "main").diff_options.masker
    for masker in (preview, settings.secrets_masker()):
        for value in [*values.values(), "postgres://db.internal/orders"]:
            assert value not in masker.mask_text(f"config {value} {quote(value, safe='')}")
    fork = settings.engine(trusted=False)
    assert fork.pass_env == ["REGION_NAME"] and fork.variables == {}
