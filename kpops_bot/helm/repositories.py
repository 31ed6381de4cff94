"""Chart repositories as helm keeps them: `repositories.yaml`, cached indexes and chart archives.

The layout follows helm's so the same directories work with a helm binary: `HELM_REPOSITORY_CONFIG` names the
repositories file, `HELM_REPOSITORY_CACHE` holds `<name>-index.yaml` per repository. Chart archives are also kept
in an optional shared cache (`KPOPS_BOT_CHART_CACHE`) addressed by their digest, so renders that each get fresh
helm directories do not download the same chart again. The cache is a folder other processes might write, so an
archive is checked against the digest of the repository's index on every read: one that does not match is
ignored and downloaded again, never rendered. A chart whose index gives no digest is never cached.

A render may add only the repositories the bot's configuration names (`chart_repositories`, the chart mirrors)
or kpops' own defaults name (`AllowedRepositories`): the helm service runs outside the sandbox, with the network,
so an arbitrary URL would be an outbound request a render chose. A repository's name becomes a file name, so it is
checked before it is used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART_CACHE_ENV = "KPOPS_BOT_CHART_CACHE"
REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class ChartNotAvailableError(Exception):
    """A chart that could not be fetched or did not match its index digest."""


class RepositoryRefusedError(Exception):
    """A repository name or URL a render may not use."""


# The index URLs kpops' own defaults name (`helm_repo_config` of streams-bootstrap's components and of the
# Kafka Connect resetter), across the supported releases.
KPOPS_DEFAULT_REPOSITORIES = (
    "https://bakdata.github.io/streams-bootstrap/",
    "https://bakdata.github.io/kafka-connect-resetter/",
)


def check_repository_name(name: str) -> str:
    """`name` if helm may keep a repository by it: it names `<name>-index.yaml`, so no separator and no `..`."""
    if not REPOSITORY_NAME.match(name) or ".." in name:
        msg = (
            f"repository name {name!r} is not accepted: letters, digits, '.', '_' and '-' only "
            "(no '/', no '..'), at most 100 characters"
        )
        raise RepositoryRefusedError(msg)
    return name


def _normalised_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class AllowedRepositories:
    """The repository URLs a render may add: the configured ones, kpops' defaults and the chart mirrors' targets."""

    urls: frozenset[str]

    @classmethod
    def of(cls, configured: list[str], mirror_targets: list[str]) -> AllowedRepositories:
        urls = [*configured, *KPOPS_DEFAULT_REPOSITORIES, *mirror_targets]
        return cls(frozenset(_normalised_url(url) for url in urls))

    def check(self, asked: str, used: str) -> None:
        """Refuses `used` (the URL after the chart mirrors, `asked` before them) unless it is allowed."""
        if _normalised_url(used) not in self.urls:
            msg = (
                f"the chart repository {asked} is not allowed for renders: the bot adds only the repositories "
                "its setting chart_repositories (KPOPS_BOT_CHART_REPOSITORIES) or chart_mirrors names, and "
                "kpops' default ones"
            )
            raise RepositoryRefusedError(msg)

    def check_oci(self, reference: str) -> None:
        """Refuses an `oci://` chart unless it lies below an allowed `oci://` URL."""
        if not any(url.startswith("oci://") and f"{reference}/".startswith(f"{url}/") for url in self.urls):
            msg = (
                f"the chart {reference} is not allowed for renders: the bot pulls OCI charts only below the URLs "
                "its setting chart_repositories (KPOPS_BOT_CHART_REPOSITORIES) names"
            )
            raise RepositoryRefusedError(msg)


@dataclass(frozen=True)
class ChartRepository:
    """One entry of helm's repositories file."""

    name: str
    url: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_tls_verify: bool = False

    def to_helm(self) -> dict[str, Any]:
        """The entry with helm's key names."""
        return {
            "name": self.name,
            "url": self.url,
            "username": self.username or "",
            "password": self.password or "",
            "caFile": self.ca_file or "",
            "certFile": self.cert_file or "",
            "keyFile": self.key_file or "",
            "insecure_skip_tls_verify": self.insecure_skip_tls_verify,
            "pass_credentials_all": False,
        }

    @classmethod
    def from_helm(cls, entry: dict[str, Any]) -> ChartRepository:
        return cls(
            name=entry["name"],
            url=entry["url"],
            username=entry.get("username") or None,
            password=entry.get("password") or None,
            ca_file=entry.get("caFile") or None,
            cert_file=entry.get("certFile") or None,
            key_file=entry.get("keyFile") or None,
            insecure_skip_tls_verify=bool(entry.get("insecure_skip_tls_verify")),
        )


def _default_helm_dirs(env: dict[str, str]) -> tuple[Path, Path]:
    home = Path(env.get("HOME", "~")).expanduser()
    config_home = Path(env.get("HELM_CONFIG_HOME") or Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "helm")
    cache_home = Path(env.get("HELM_CACHE_HOME") or Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "helm")
    return config_home / "repositories.yaml", cache_home / "repository"


@dataclass(frozen=True)
class RepositoryStore:
    """helm's repositories file and index cache, plus the shared chart archive cache."""

    config_file: Path
    cache_dir: Path
    chart_cache: Path | None = None

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> RepositoryStore:
        default_config, default_cache = _default_helm_dirs(env)
        chart_cache = env.get(CHART_CACHE_ENV)
        return cls(
            config_file=Path(env.get("HELM_REPOSITORY_CONFIG") or default_config),
            cache_dir=Path(env.get("HELM_REPOSITORY_CACHE") or default_cache),
            chart_cache=Path(chart_cache) if chart_cache else None,
        )

    def all(self) -> dict[str, ChartRepository]:
        if not self.config_file.is_file():
            return {}
        document = yaml.safe_load(self.config_file.read_text(encoding="utf-8")) or {}
        entries = document.get("repositories") or []
        return {entry["name"]: ChartRepository.from_helm(entry) for entry in entries}

    def get(self, name: str) -> ChartRepository | None:
        return self.all().get(name)

    def put(self, repository: ChartRepository) -> None:
        repositories = self.all()
        repositories[repository.name] = repository
        document = {
            "apiVersion": "",
            "generated": "0001-01-01T00:00:00Z",
            "repositories": [entry.to_helm() for entry in repositories.values()],
        }
        _write_atomically(self.config_file, yaml.safe_dump(document, sort_keys=False).encode())

    def download_index(self, repository: ChartRepository) -> None:
        import helm_python  # Helm's Go library: loaded by the helm service, never by the processes that start it

        index = helm_python.repo_index(
            repository.url,
            username=repository.username,
            password=repository.password,
            insecure_skip_tls_verify=repository.insecure_skip_tls_verify,
        )
        # JSON is YAML: helm reads this file as it reads its own.
        _write_atomically(self._index_file(repository.name), json.dumps(index).encode())

    def index(self, repository: ChartRepository) -> dict[str, Any]:
        path = self._index_file(repository.name)
        if not path.is_file():
            msg = f"no cached repository for {repository.name} found. (try 'helm repo update')"
            raise ChartNotAvailableError(msg)
        loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return loaded

    def chart_archive(self, repository: ChartRepository, entry: dict[str, Any]) -> bytes:
        """The `.tgz` of an index entry, from the shared cache when its digest is known."""
        digest = entry.get("digest")
        cached = self.chart_cache / f"{digest}.tgz" if self.chart_cache and digest else None
        if cached is not None and (verified := _verified(cached, str(digest))) is not None:
            return verified
        archive = self._pull(
            entry["name"],
            version=entry["version"],
            repo_url=repository.url,
            repository=repository,
        )
        if digest and hashlib.sha256(archive).hexdigest() != digest:
            msg = f"chart {entry['name']}-{entry['version']} does not match the digest in its repository index"
            raise ChartNotAvailableError(msg)
        if cached is not None:
            _write_atomically(cached, archive)
        return archive

    def pull_oci(self, reference: str, version: str | None) -> bytes:
        return self._pull(reference, version=version, repo_url=None, repository=None)

    @staticmethod
    def _pull(chart: str, *, version: str | None, repo_url: str | None, repository: ChartRepository | None) -> bytes:
        import helm_python

        with tempfile.TemporaryDirectory(prefix="kpops-bot-chart-") as destination:
            helm_python.pull(
                chart,
                destination=destination,
                version=version,
                repo_url=repo_url,
                username=repository.username if repository else None,
                password=repository.password if repository else None,
                insecure_skip_tls_verify=bool(repository and repository.insecure_skip_tls_verify),
            )
            archives = sorted(Path(destination).glob("*.tgz"))
            if not archives:
                msg = f"chart {chart} {version or ''} was not downloaded"
                raise ChartNotAvailableError(msg)
            return archives[0].read_bytes()

    def _index_file(self, name: str) -> Path:
        return self.cache_dir / f"{check_repository_name(name)}-index.yaml"


def resolve_chart_version(index: dict[str, Any], chart: str, version: str | None) -> dict[str, Any] | None:
    """The index entry helm would pick: the exact version, or the newest stable one when none is asked for."""
    entries: list[dict[str, Any]] = (index.get("entries") or {}).get(chart) or []
    if version:
        wanted = version.removeprefix("v")
        return next((entry for entry in entries if str(entry["version"]).removeprefix("v") == wanted), None)
    stable = [entry for entry in entries if (key := _semver_key(str(entry["version"]))) and not key[3]]
    return max(stable, key=lambda entry: _semver_key(str(entry["version"])) or (), default=None)


def _semver_key(version: str) -> tuple[int, int, int, str] | None:
    match = _SEMVER.match(version)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3]), match[4] or ""


def _verified(path: Path, digest: str) -> bytes | None:
    """The archive at `path` if its SHA-256 is `digest`; None when it is missing or was changed."""
    try:
        archive = path.read_bytes()
    except OSError:
        return None
    return archive if hmac.compare_digest(hashlib.sha256(archive).hexdigest(), digest) else None


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    Path(temporary).replace(path)
