"""The status page's cookie: Secure over TLS, HttpOnly, SameSite, and a value derived from the token, not the token.

The cookie held the raw `status_token` without `Secure`: sent over plain HTTP by a browser once the page had been
opened over https, and a copy of it (a browser profile, a proxy's log) was the token itself, which also opens the
page as `Bearer` and may be shared by replicas.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

from starlette.testclient import TestClient

from kpops_bot.server.app import create_app
from kpops_bot.settings import BotSettings
from kpops_bot.store import Store

TOKEN = "status-token-0123456789abcdef"


def test_the_cookie_is_derived_and_secure_over_tls(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    settings = BotSettings(data_dir=tmp_path, status_token=TOKEN)  # type: ignore[arg-type]
    try:
        app = create_app(settings, store)
        with TestClient(app, base_url="https://bot.example") as tls, TestClient(app) as plain:
            over_tls = tls.get(f"/status?token={TOKEN}", follow_redirects=False)
            over_http = plain.get(f"/status?token={TOKEN}", follow_redirects=False)
            cookie = SimpleCookie(over_tls.headers["set-cookie"])["kpops_bot_status"]
            assert over_tls.status_code == 303
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"].lower() == "strict"
            assert "secure" not in over_http.headers["set-cookie"].lower()  # a browser would not send it back
            assert TOKEN not in over_tls.headers["set-cookie"] and TOKEN not in cookie.value
            assert plain.get("/status", headers={"Cookie": f"kpops_bot_status={cookie.value}"}).status_code == 200
            assert plain.get("/status", headers={"Cookie": f"kpops_bot_status={TOKEN}"}).status_code == 401
    finally:
        store.close()
