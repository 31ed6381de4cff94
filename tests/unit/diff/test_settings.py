from __future__ import annotations

import pytest

from kpops_bot.diff.model import RiskLevel
from kpops_bot.diff.settings import DiffSettings
from kpops_bot.engine.settings import EngineSettings
from kpops_bot.masking import MASK


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPOPS_BOT_SECRETS", '["configured-secret-1"]')
    monkeypatch.setenv("KPOPS_BOT_BLOCKING_RISKS", '["warning", "danger"]')
    monkeypatch.setenv("KPOPS_BOT_IGNORED_FIELDS", '["metadata.annotations"]')
    monkeypatch.setenv("KPOPS_BOT_SECRET_KEYS", '["pin"]')
    options = DiffSettings().options(EngineSettings())
    assert options.blocking_levels == {RiskLevel.WARNING, RiskLevel.DANGER}
    assert options.ignored.apply({"metadata": {"annotations": {"a": 1}, "name": "n"}}) == {"metadata": {"name": "n"}}
    assert options.masker.mask({"url": "x:configured-secret-1", "PIN": "1234", "password": "p"}) == {
        "url": f"x:{MASK}",
        "PIN": MASK,
        "password": "p",
    }


def test_variables_given_to_kpops_are_held_secrets_unless_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-the-environment")
    monkeypatch.setenv("DSN", "dsn-from-the-environment")
    engine = EngineSettings(
        pass_env=["KAFKA_SASL_PASSWORD", "DSN"],
        variables={"DB_TOKEN": "given-as-variable", "NAMESPACE": "streaming", "SIGNING_KEY": "sign-4711"},
        public_variables=["NAMESPACE", "DB_TOKEN"],  # a secret-looking name stays held even so
    )
    masker = DiffSettings().masker(engine)
    text = "from-the-environment dsn-from-the-environment given-as-variable streaming sign-4711"
    assert masker.mask_text(text) == f"{MASK} {MASK} {MASK} streaming {MASK}"
