"""Environment builds obey only the bot: a pull request's checkout cannot name the index, see the bot's secrets
through the installer, make it build a source package, or pin a release the bot does not support.

The pin is the pull request's, and the build runs outside the render sandbox, so each of these is an attack: a
`[tool.uv]` index in the head's `pyproject.toml` (uv read it when `kpops-bot diff` ran in the checkout), code in a
wheel's import check that reads the environment (it held the forge token), an sdist-only release (its build ran
unsandboxed), `kpops==0.3.0`. The indexes here are loopback servers that record what they are asked; the wheel is
a tiny "kpops" whose import writes down the environment and folder it runs in.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.versions.environments import EnvironmentBuildError, EnvironmentStore
from testbed.repos import MIRROR_FROM, GitRepo
from tests.support.hostile import python_readable_by_others

_JSON = "application/vnd.pypi.simple.v1+json"
WORD_COUNT = "pipelines/word-count/pipeline.yaml"
FAKE_TOKEN = "ghp_installer-must-not-see-this-0123456789"


class PackageIndex:
    """A PEP 691 simple index on 127.0.0.1 serving `files` (name → bytes) for the project kpops; records paths."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                index.requests.append(self.path)
                if self.path.rstrip("/").endswith("/simple/kpops"):
                    self._send(200, _JSON, index.listing())
                elif (name := self.path.rsplit("/", 1)[-1]) in index.files:
                    self._send(200, "application/octet-stream", index.files[name])
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the serving loop's next poll: 0.02 s, not the default 0.5
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple"

    def listing(self) -> bytes:
        entries = [
            {
                "filename": name,
                "url": f"/files/{name}",
                "hashes": {"sha256": hashlib.sha256(content).hexdigest()},
                "requires-python": ">=3.10",
            }
            for name, content in self.files.items()
        ]
        return json.dumps({"meta": {"api-version": "1.0"}, "name": "kpops", "files": entries}).encode()

    def __enter__(self) -> PackageIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def spying_wheel(version: str, report: Path) -> bytes:
    """A wheel named kpops whose import tries to write to `report` and then fails, telling its environment,
    working folder and whether the write seemed to work on its last line of stderr."""
    code = (
        "import json, os, sys\n"
        "try:\n"
        f"    open({str(report)!r}, 'w').write('ran unconfined')\n"
        "    wrote = True\n"
        "except OSError:\n"
        "    wrote = False\n"
        "seen = {'env': dict(os.environ), 'cwd': os.getcwd(), 'wrote': wrote, 'uid': os.getuid()}\n"
        "sys.stderr.write(json.dumps(seen) + '\\n')\n"
        "raise SystemExit(1)\n"
    )
    info = f"kpops-{version}.dist-info"
    members = {
        "kpops/__init__.py": code,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: kpops\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in members) + f"{info}/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in {**members, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def attacker() -> Iterator[PackageIndex]:
    with PackageIndex({}) as index:
        yield index


def diff_in_checkout(
    checkout: Path,
    chart_server: ChartServer,
    index: PackageIndex,
    environments: Path,
    workspace: Path,
    *extra: str,
) -> subprocess.CompletedProcess[str]:
    """`kpops-bot diff --repo .` run from inside the pull request's checkout, the bot holding a forge token."""
    env = {
        **os.environ,
        "KPOPS_BOT_HELM": "builtin",
        "KPOPS_BOT_KPOPS_INDEX_URL": index.url,
        "KPOPS_BOT_KPOPS_ENVIRONMENTS": str(environments),
        "GITHUB_TOKEN": FAKE_TOKEN,
    }
    args = ["diff", "--repo", ".", "--base", "main", "--head", "feature", "--workspace", str(workspace), *extra]
    args += ["--chart-mirror", f"{MIRROR_FROM}={chart_server.url}"]
    return subprocess.run(
        [sys.executable, "-m", "kpops_bot", *args], capture_output=True, text=True, env=env, cwd=checkout, check=False
    )


def hostile_head(repo: GitRepo, pin: str, attacker: PackageIndex) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("requirements.txt", f"kpops=={pin}\n")
    repo.write(
        "pyproject.toml",
        "[project]\nname = 'deployment'\nversion = '0'\n\n"
        f"[tool.uv]\nindex-url = '{attacker.url}'\nextra-index-url = ['{attacker.url}']\n",
    )
    repo.replace(WORD_COUNT, "replicaCount: 2", "replicaCount: 3")  # a pipeline to render with the pinned kpops
    repo.commit("Pin kpops and name an index")


@pytest.mark.timeout(300)
def test_a_diff_in_a_hostile_checkout_asks_only_the_configured_index_and_the_installer_sees_no_secret(
    deployment_repo: GitRepo, chart_server: ChartServer, attacker: PackageIndex, tmp_path: Path
) -> None:
    report = tmp_path / "installer-saw.json"
    hostile_head(deployment_repo, "9.4.1", attacker)
    environments = tmp_path / "environments"
    with PackageIndex({"kpops-9.4.1-py3-none-any.whl": spying_wheel("9.4.1", report)}) as configured:
        completed = diff_in_checkout(
            deployment_repo.path, chart_server, configured, environments, tmp_path / "ws", "--format", "json"
        )
    assert attacker.requests == []
    assert any(path.endswith("kpops-9.4.1-py3-none-any.whl") for path in configured.requests)
    # The wheel installed, its import ran in the check (confined), and the check failed: a clear error.
    assert completed.returncode == 1, completed.stderr
    messages = {p["error"]["message"] for p in json.loads(completed.stdout)["pipelines"] if p["status"] == "error"}
    (message,) = messages
    prefix = "building the environment of kpops 9.4.1 failed: "
    assert message.startswith(prefix)
    seen = json.loads(message.removeprefix(prefix))
    assert FAKE_TOKEN not in json.dumps(seen)
    assert not [name for name in seen["env"] if name.startswith("KPOPS_BOT_") or "TOKEN" in name]
    assert seen["env"]["HOME"] == str(environments / ".installer")
    assert not report.exists(), seen  # the import check ran in the sandbox: its write stayed in a private /tmp
    assert seen["cwd"] == str(environments / "kpops-9.4.1")  # (its working folder: the environment, read-only)
    assert not (environments / "kpops-9.4.1").exists(), "the failed build's folder is removed"


@pytest.mark.timeout(120)
def test_a_pin_outside_the_supported_majors_is_refused_before_anything_is_installed(
    deployment_repo: GitRepo, chart_server: ChartServer, attacker: PackageIndex, tmp_path: Path
) -> None:
    hostile_head(deployment_repo, "7.1.0", attacker)
    files = {"kpops-7.1.0-py3-none-any.whl": spying_wheel("7.1.0", tmp_path / "ran.json")}
    with PackageIndex(files) as configured:
        completed = diff_in_checkout(
            deployment_repo.path, chart_server, configured, tmp_path / "environments", tmp_path / "ws"
        )
    assert completed.returncode == 1, completed.stderr
    assert (
        "kpops 7.1.0 (kpops==7.1.0 (requirements.txt)) is not supported: the bot renders with kpops 8 to 12 "
        "(the settings kpops_oldest_major and kpops_newest_major widen it)"
    ) in completed.stdout
    assert [path for path in configured.requests if "/files/" in path] == []
    assert attacker.requests == []


@pytest.mark.subprocess  # uv builds the environment
@pytest.mark.timeout(120)
def test_a_release_without_wheels_is_not_built_from_source(tmp_path: Path) -> None:
    sdist = b"not even an archive: a build would run whatever setup.py says"
    with PackageIndex({"kpops-9.9.9.tar.gz": sdist}) as index:
        store = EnvironmentStore(tmp_path / "environments", index_url=index.url)
        with pytest.raises(EnvironmentBuildError) as refused:
            store.get(Version("9.9.9"), SpecifierSet(">=3.10"))
    assert str(refused.value) == "kpops 9.9.9 needs a source build; not supported (the bot installs binary wheels only)"
    assert not (tmp_path / "environments" / "kpops-9.9.9").exists()
    assert [path for path in index.requests if path.endswith(".tar.gz")] == []


def test_the_store_refuses_a_release_outside_the_supported_majors(tmp_path: Path) -> None:
    with PackageIndex({}) as index:
        store = EnvironmentStore(tmp_path / "environments", index_url=index.url)
        with pytest.raises(EnvironmentBuildError, match=r"^kpops 0\.3\.0 is not supported: .* kpops 8 to 12"):
            store.get(Version("0.3.0"), SpecifierSet())
    assert index.requests == []
    assert not (tmp_path / "environments" / "kpops-0.3.0").exists()


UID_CHECK = """
import sys
from pathlib import Path
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from kpops_bot.model.kinds import SandboxChoice
from kpops_bot.versions.environments import EnvironmentBuildError, EnvironmentStore

store = EnvironmentStore(Path(sys.argv[1]), index_url=sys.argv[2], sandbox=SandboxChoice.UID, sandbox_uid=61000)
try:
    store.get(Version("9.4.1"), SpecifierSet(">=3.10"))
except EnvironmentBuildError as error:
    print(error)
"""


@pytest.mark.subprocess
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid layer runs the import check as another uid: needs root")
@pytest.mark.timeout(300)
def test_under_the_uid_layer_the_import_check_runs_as_its_own_uid(tmp_path: Path) -> None:
    """The `uid` branch: the wheel's import code runs as sandbox_uid + 499, not as the bot (root), so it cannot
    write the bot's files. This machine's Python lies below a 0700 /root, which no other uid may enter: the build
    runs where that home is traversable (`python_readable_by_others`), as a container image's Python is."""
    open_folder = Path(tempfile.mkdtemp(prefix="kpops-bot-uid-check-"))
    try:
        open_folder.chmod(0o755)  # other uids may enter (pytest's folders are 0700), not write
        report = open_folder / "installer-saw.json"
        with PackageIndex({"kpops-9.4.1-py3-none-any.whl": spying_wheel("9.4.1", report)}) as index:
            command = [sys.executable, "-c", UID_CHECK, str(open_folder / "environments"), index.url]
            env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
            completed = subprocess.run(
                [*python_readable_by_others(), *command], env=env, capture_output=True, text=True, check=False
            )
        assert completed.returncode == 0, completed.stderr
        prefix = "building the environment of kpops 9.4.1 failed: "
        assert completed.stdout.startswith(prefix), completed.stdout
        seen = json.loads(completed.stdout.removeprefix(prefix))
        assert seen["uid"] == 61499 and seen["wrote"] is False
        assert not report.exists()
        assert seen["cwd"] == str(open_folder / "environments" / "kpops-9.4.1")
        assert not (open_folder / "environments" / "kpops-9.4.1").exists()
    finally:
        shutil.rmtree(open_folder, ignore_errors=True)
