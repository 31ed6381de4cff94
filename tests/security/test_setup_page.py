"""The `setup github-app` page on loopback answers only requests addressed to it, and bad input with 400.

It runs on the admin's machine while their browser is signed in to GitHub. A web page they visit meanwhile can make
its own name resolve to 127.0.0.1 (DNS rebinding) and then read the page and drive the callback as same-origin:
the page checks `Host`. A non-ASCII `state` was a 500.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from kpops_bot.setup.github_app import FlowOptions, ManifestFlow


def test_a_rebound_host_gets_400_and_a_bad_state_gets_400(tmp_path: Path) -> None:
    flow = ManifestFlow(FlowOptions("https://bot.example", tmp_path, api_url="http://127.0.0.1:9")).start()
    try:
        own = httpx.get(flow.url, timeout=30)
        assert own.status_code == 200 and "manifest" in own.text
        for host in ("attacker.example", f"attacker.example:{flow.port}"):
            rebound = httpx.get(flow.url, headers={"Host": host}, timeout=30)
            assert rebound.status_code == 400 and "manifest" not in rebound.text
            callback = httpx.get(f"{flow.url}callback?code=c&state=x", headers={"Host": host}, timeout=30)
            assert callback.status_code == 400
        for state in ("é", "%ff", "\u202e" * 3):
            answer = httpx.get(f"{flow.url}callback", params={"code": "c", "state": state}, timeout=30)
            assert answer.status_code == 400
            assert "does not belong to this registration" in answer.text
        assert not flow.wait(0)
    finally:
        flow.stop()
