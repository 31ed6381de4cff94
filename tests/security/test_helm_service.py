"""The helm service serves renders, nothing else: attacks a render can make with the grant it is given.

The service runs with the bot's rights, outside the sandbox, with the network. A render (whose code is the pull
request's) holds a grant for it and can send any command line; these are the ones that worked before: `repo add`
of any URL (an outbound request carrying data), a `../` repository name (a file written outside helm's folders),
a FIFO as a values file (the service's reader hung), an error text that told existing from missing paths, and
chart templates that ran in the shared service without bounds (a nested `range` kept a core, a `repeat` took it
to 3.1 GiB).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kpops_bot.helm import service
from kpops_bot.helm.chart_server import ChartServer
from kpops_bot.helm.confinement import MAX_CHART_FILES
from kpops_bot.helm.outcome import CPU_EXCEEDED, MEMORY_EXCEEDED
from testbed.repos import CHARTS
from tests.support.hostile import listening

MiB = 1024 * 1024


@dataclass(frozen=True)
class Helm:
    socket_path: str
    key: bytes
    process: subprocess.Popen[str]
    checkout: Path
    scratch: Path

    def grant(self, **fields: object) -> str:
        env = {
            "HOME": str(self.scratch),
            "HELM_REPOSITORY_CONFIG": str(self.scratch / "helm" / "repositories.yaml"),
            "HELM_REPOSITORY_CACHE": str(self.scratch / "helm" / "cache"),
        }
        folders = [str(self.checkout), str(self.scratch)]
        granted = service.Grant(env=env, files=folders, charts=[str(self.checkout)], cwd=str(self.checkout))
        return service.Grant(**{**granted.fields(), **fields}).sign(self.key)  # type: ignore[arg-type]

    def call(self, *argv: str, grant: str | None = None) -> service.Outcome:
        return service.call(self.socket_path, list(argv), self.grant() if grant is None else grant)

    def resident_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def children(self) -> list[int]:
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        return pids


@pytest.fixture
def helm(tmp_path: Path) -> Iterator[Helm]:
    checkout, scratch = tmp_path / "checkout", tmp_path / "job"
    checkout.mkdir()
    scratch.mkdir()
    socket_path = str(tmp_path / "helm.sock")
    key = service.new_key()
    process = service.start(socket_path, {"PATH": os.environ["PATH"]}, key)
    try:
        yield Helm(socket_path, key, process, checkout, scratch)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()


def chart(folder: Path, template: str) -> Path:
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: bomb\nversion: 0.1.0\n")
    (folder / "templates" / "bomb.yaml").write_text(template)
    return folder


def test_repo_add_of_a_url_the_bot_does_not_name_makes_no_request(helm: Helm, chart_server: ChartServer) -> None:
    with listening() as listener:
        url = f"http://127.0.0.1:{listener.port}/charts/"
        refused = helm.call("repo", "add", "exfil", url)
        oci = helm.call("template", "p", f"oci://127.0.0.1:{listener.port}/charts/app")
    assert listener.connections == []
    assert refused.returncode == 1
    assert f"the chart repository {url} is not allowed for renders" in refused.stderr
    assert "chart_repositories (KPOPS_BOT_CHART_REPOSITORIES)" in refused.stderr
    assert oci.returncode == 1 and "is not allowed for renders" in oci.stderr
    allowed = helm.call("repo", "add", "ours", chart_server.url, grant=helm.grant(repositories=[chart_server.url]))
    assert allowed.returncode == 0, allowed.stderr


def test_a_repository_name_cannot_leave_helms_folders(helm: Helm, tmp_path: Path, chart_server: ChartServer) -> None:
    grant = helm.grant(repositories=[chart_server.url])
    for name in ("../../../escaped", "a/b", "..", ".hidden"):
        outcome = helm.call("repo", "add", name, chart_server.url, grant=grant)
        assert outcome.returncode == 1 and f"repository name {name!r} is not accepted" in outcome.stderr
        template = helm.call("template", "p", f"{name}/chart", grant=grant)
        assert template.returncode == 1
    assert [path.name for path in tmp_path.rglob("*index.yaml")] == []


def test_values_that_are_links_fifos_or_outside_all_read_as_absent(helm: Helm, tmp_path: Path) -> None:
    shutil.copytree(CHARTS / "producer-app", helm.checkout / "charts" / "producer-app")
    secret = tmp_path / "bot.yaml"
    secret.write_text("token: the-bots-own\n")
    os.mkfifo(helm.scratch / "fifo.yaml")
    (helm.scratch / "link.yaml").symlink_to(secret)
    (helm.checkout / "inside.yaml").write_text("image: app\n")
    (helm.scratch / "inside-link.yaml").symlink_to(helm.checkout / "inside.yaml")

    def error(values: str) -> str:
        outcome = helm.call("template", "p", "charts/producer-app", "-f", values)
        assert outcome.returncode == 1
        return outcome.stderr.replace(values, "VALUES")

    started = time.monotonic()
    answers = {
        values: error(values)
        for values in (
            str(helm.scratch / "fifo.yaml"),  # hung the service's reader
            str(helm.scratch / "link.yaml"),
            str(helm.scratch / "inside-link.yaml"),  # a link, even to a granted file
            str(secret),
            "/etc/passwd",
            str(tmp_path / "absent.yaml"),
        )
    }
    assert time.monotonic() - started < 60
    assert set(answers.values()) == {"Error: open VALUES: no such file in the folders this render may read\n"}
    ok = helm.call("template", "p", "charts/producer-app", "-f", "inside.yaml")
    assert ok.returncode == 0, ok.stderr


def test_chart_folders_with_a_fifo_or_too_many_files_are_refused(helm: Helm) -> None:
    fifo_chart = chart(helm.checkout / "fifo", "kind: ConfigMap\n")
    os.mkfifo(fifo_chart / "templates" / "pipe.yaml")
    outcome = helm.call("template", "p", "fifo")
    assert outcome.returncode == 1 and "no such file in the folders this render may read" in outcome.stderr

    wide = chart(helm.checkout / "wide", "kind: ConfigMap\n")
    for index in range(MAX_CHART_FILES):
        (wide / "templates" / f"t{index}.txt").write_text("")
    outcome = helm.call("template", "p", "wide")
    assert outcome.returncode == 1
    assert f"the chart wide exceeded its limit of {MAX_CHART_FILES} files" in outcome.stderr


def test_release_names_are_helms(helm: Helm) -> None:
    shutil.copytree(CHARTS / "producer-app", helm.checkout / "app")
    for release in ("../x", "UPPER", "a" * 54, "x-"):
        outcome = helm.call("template", release, "app")
        assert outcome.returncode == 1 and f"invalid release name {release!r}" in outcome.stderr
    outcome = helm.call("template", "fine-name", "app")
    assert outcome.returncode == 0, outcome.stderr
    assert [doc["kind"] for doc in yaml.safe_load_all(outcome.stdout)] == ["Job"]


def test_a_memory_bomb_template_ends_within_the_renders_limit(helm: Helm) -> None:
    chart(helm.checkout / "bomb", 'kind: ConfigMap\ndata:\n  x: {{ repeat 600000000 "x" | quote }}\n')
    before = helm.resident_mib()
    outcome = helm.call("template", "p", "bomb", grant=helm.grant(memory_bytes=256 * MiB))
    assert outcome.returncode == MEMORY_EXCEEDED
    assert "the chart's templates exceeded their memory limit of 384 MiB" in outcome.stderr
    assert helm.resident_mib() < before + 64  # the 600 MB string lived in the worker, not here


def test_a_cpu_bomb_template_ends_at_the_renders_cpu_limit(helm: Helm) -> None:
    spin = "{{ range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}"
    chart(helm.checkout / "spin", f"kind: ConfigMap\n# {spin}\n")
    outcome = helm.call("template", "p", "spin", grant=helm.grant(cpu_seconds=2))
    assert outcome.returncode == CPU_EXCEEDED
    assert "the chart's templates exceeded their CPU time limit of 2 s" in outcome.stderr


def test_a_renders_templates_end_when_the_render_ends(helm: Helm) -> None:
    spin = "{{ range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}"
    chart(helm.checkout / "spin", f"kind: ConfigMap\n# {spin}\n")
    before = set(helm.children())  # the workers started ahead; the first takes the next render
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as render:
        render.connect(helm.socket_path)
        service._send(render, {"argv": ["template", "p", "spin"], "grant": helm.grant()})
        deadline = time.monotonic() + 60
        while set(helm.children()) <= before and time.monotonic() < deadline:
            time.sleep(0.05)  # a spare is started once one was handed out; seen only in /proc
        assert before <= set(helm.children())  # the taken one spins
    # The render is gone (its connection closed): its worker is killed, whatever its CPU budget (300 s) says.
    deadline = time.monotonic() + 30
    while before <= set(helm.children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(before - set(helm.children())) == 1
    shutil.copytree(CHARTS / "producer-app", helm.checkout / "app")
    after = helm.call("template", "p", "app")  # the next render is served as before
    assert after.returncode == 0, after.stderr


def test_a_worker_left_holding_much_of_its_budget_is_not_kept_for_the_next_render(helm: Helm) -> None:
    chart(helm.checkout / "heavy", '{{ $held := repeat 150000000 "x" }}kind: ConfigMap\n')
    shutil.copytree(CHARTS / "producer-app", helm.checkout / "light")
    grant = helm.grant(memory_bytes=256 * MiB)  # a worker of 384 MiB: retired once it maps more than half
    spares = sorted(helm.children())
    light = helm.call("template", "p", "light", grant=grant)
    assert light.returncode == 0, light.stderr
    assert spares[0] in helm.children()  # kept: a light template leaves the worker most of its budget
    heavy = helm.call("template", "p", "heavy", grant=grant)  # the same worker, kept after the light one
    assert heavy.returncode == 0, heavy.stderr
    assert spares[0] not in helm.children()  # retired before it answered: the next render gets a whole budget
