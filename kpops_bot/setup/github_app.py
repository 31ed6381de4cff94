"""Register the bot's GitHub App from its manifest: GitHub's "create an App from a manifest" flow, run by an admin.

The flow needs a browser signed in to GitHub: a page on loopback posts the manifest to GitHub, the admin confirms,
GitHub sends the browser back to that loopback page with a one-time code, and the code is exchanged for the App's
id, private key and webhook secret. It runs on the admin's machine rather than as a route of the bot, so no
endpoint of a running bot can ever be made to replace its credentials. The `state` sent along ties the answer to
this run. The page answers only requests addressed to itself (`Host` 127.0.0.1 or localhost): a web page the admin
visits meanwhile could otherwise point a name of its own at 127.0.0.1 (DNS rebinding) and read or drive it.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from kpops_bot.setup.reach import unreachable_cause
from kpops_bot.setup.registration import github_app_manifest


class AppRegistrationError(Exception):
    """GitHub did not turn the code into an App; the message says why."""


@dataclass(frozen=True)
class CreatedApp:
    id: int
    slug: str
    pem: str
    webhook_secret: str
    html_url: str

    @classmethod
    def from_conversion(cls, answer: dict[str, Any]) -> CreatedApp:
        try:
            return cls(
                id=int(answer["id"]),
                slug=str(answer["slug"]),
                pem=str(answer["pem"]),
                webhook_secret=str(answer["webhook_secret"]),
                html_url=str(answer["html_url"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            msg = f"GitHub's answer lacks {error}"
            raise AppRegistrationError(msg) from error


def new_app_url(github_url: str, organisation: str | None, state: str) -> str:
    """Where GitHub takes a manifest: the user's or the organisation's new App page."""
    base = github_url.rstrip("/")
    owner = f"/organizations/{quote(organisation, safe='')}" if organisation else ""
    return f"{base}{owner}/settings/apps/new?state={quote(state, safe='')}"


def registration_page(action: str, manifest: dict[str, Any]) -> str:
    """A page that posts the manifest to GitHub as soon as it loads (and offers a button if scripts are off)."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Register kpops-bot</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form action="{html.escape(action)}" method="post">'
        f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
        '<p>Registering the kpops-bot GitHub App on GitHub…</p><button type="submit">Continue on GitHub</button>'
        "</form></body></html>"
    )


def convert(api_url: str, code: str, timeout: float = 30.0) -> CreatedApp:
    """Exchange the one-time code for the App's credentials (`POST /app-manifests/{code}/conversions`)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        response = httpx.post(url, headers={"Accept": "application/vnd.github+json"}, timeout=timeout)
    except httpx.HTTPError as error:
        msg = f"cannot reach GitHub at {api_url}: {unreachable_cause(error)}"
        raise AppRegistrationError(msg) from error
    if response.status_code != 201:
        msg = f"GitHub answered {response.status_code} to the code (it is valid once, for one hour)"
        raise AppRegistrationError(msg)
    return CreatedApp.from_conversion(response.json())


def write_settings(app: CreatedApp, folder: Path) -> Path:
    """The App's settings for the bot (`github.*`), beside its private key, both readable by their owner only."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / f"{app.slug}.private-key.pem"
    settings_file = folder / f"{app.slug}.settings.yaml"
    settings = {
        "github": {
            "app_id": app.id,
            "app_private_key_file": str(key_file.resolve()),
            "webhook_secret": app.webhook_secret,
            "bot_login": f"{app.slug}[bot]",
        }
    }
    _write_private(key_file, app.pem)
    _write_private(settings_file, yaml.safe_dump(settings, sort_keys=False))
    return settings_file


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


@dataclass(frozen=True)
class FlowOptions:
    bot_url: str
    folder: Path
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    organisation: str | None = None
    name: str | None = None
    port: int = 0


class ManifestFlow:
    """The loopback page of one registration: start, let the admin's browser go through it, wait for the result."""

    def __init__(self, options: FlowOptions) -> None:
        self._options = options
        self._state = secrets.token_urlsafe(24)
        self._done = threading.Event()
        self.settings_file: Path | None = None
        self.error: str | None = None
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", options.port))
        self.port = int(self._socket.getsockname()[1])
        app = Starlette(
            routes=[Route("/", self._start), Route("/callback", self._callback)],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])],
        )
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._serve, name="github-app-setup", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> ManifestFlow:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """True once GitHub's answer was handled (see `settings_file` / `error`)."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)
        self._socket.close()

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    async def _start(self, _request: Request) -> Response:
        options = self._options
        manifest = github_app_manifest(options.bot_url, f"{self.url}callback", options.name)
        action = new_app_url(options.github_url, options.organisation, self._state)
        return HTMLResponse(registration_page(action, manifest))

    async def _callback(self, request: Request) -> Response:
        code, state = request.query_params.get("code"), request.query_params.get("state", "")
        if not code or not secrets.compare_digest(state.encode(), self._state.encode()):  # bytes: any text compares
            return HTMLResponse("<p>This answer does not belong to this registration; start again.</p>", 400)
        try:
            app = convert(self._options.api_url, code)
        except AppRegistrationError as error:
            self.error = str(error)
            self._done.set()
            return HTMLResponse(f"<p>The App was not registered: {html.escape(str(error))}</p>", 502)
        try:
            self.settings_file = write_settings(app, self._options.folder)
        except OSError as error:  # the App exists on GitHub now: say so, or the admin registers a second one
            self.error = (
                f"the App {app.slug} (id {app.id}) was registered, but its settings cannot be written in "
                f"{self._options.folder}: {error.strerror}; delete it at {app.html_url} and run this again"
            )
            self._done.set()
            return HTMLResponse(f"<p>{html.escape(self.error)}</p>", 500)
        self._done.set()
        install = f"{app.html_url.rstrip('/')}/installations/new"
        return HTMLResponse(
            f"<p>Registered the GitHub App <b>{html.escape(app.slug)}</b> (id {app.id}). Its settings are in "
            f"<code>{html.escape(str(self.settings_file))}</code>.</p>"
            f'<p>Next: <a href="{html.escape(install)}">install it</a> on the deployment repositories.</p>'
        )
