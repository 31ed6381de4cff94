"""A helm-compatible command line on helm-python-sdk, for machines without a helm binary.

kpops drives Helm through its command line: `helm version --short`, `helm repo add`, `helm repo update` and
`helm template` (see shared/notes/kpops.md). This module answers those calls with the same output and error
conventions as helm: results on stdout, `Error: ...` on stderr and exit code 1 on failure. kpops treats any
stderr line containing "error" as a failure, so nothing else written to stderr may contain that word.

Repositories live where helm keeps them (`HELM_REPOSITORY_CONFIG`, `HELM_REPOSITORY_CACHE`), so a render job
can give each process its own. Chart mirrors (`KPOPS_BOT_CHART_MIRRORS`) rewrite a repository's URL when it
is added, which lets an unmodified deployment repository render against an internal mirror.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import helm_python
import yaml

from kpops_bot.helm.confinement import ChartLimitError, OutsideGrantError, ReadableFolders
from kpops_bot.helm.manifests import TemplateParseError, render_template_output
from kpops_bot.helm.mirrors import MIRRORS_ENV, ChartMirrors
from kpops_bot.helm.outcome import Outcome
from kpops_bot.helm.repositories import (
    REPOSITORY_NAME as _REPOSITORY_NAME,
)
from kpops_bot.helm.repositories import (
    AllowedRepositories,
    ChartNotAvailableError,
    ChartRepository,
    RepositoryRefusedError,
    RepositoryStore,
    check_repository_name,
    resolve_chart_version,
)
from kpops_bot.yaml_text import load_yaml

# helm's own rule for release names (`chartutil.ValidateReleaseName`): DNS-1123 subdomain-like, at most 53.
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class HelmCommandError(Exception):
    """A failure reported the way helm reports it: one `Error: ...` line, exit code 1."""


class _ArgumentParser(argparse.ArgumentParser):
    """Parses without exiting the process: the front end also runs inside a render process."""

    def error(self, message: str) -> NoReturn:
        raise HelmCommandError(message)


@dataclass(frozen=True)
class RenderScope:
    """What a render's command line may name: files in its folders, repositories the bot allows."""

    readable: ReadableFolders
    repositories: AllowedRepositories


def run(argv: Sequence[str], environ: dict[str, str] | None = None, scope: RenderScope | None = None) -> Outcome:
    """Run one helm command line (without the leading `helm`) and capture what helm would print.

    `scope`: what a render's command line may name (the helm service serves renders); None for a command line of
    the bot's own user.
    """
    env = dict(os.environ if environ is None else environ)
    outcome = Outcome()
    try:
        _dispatch(list(argv), env, outcome, scope)
    except (
        HelmCommandError,
        ChartNotAvailableError,
        TemplateParseError,
        OutsideGrantError,
        ChartLimitError,
        RepositoryRefusedError,
        helm_python.HelmError,
    ) as error:
        outcome.returncode = 1
        outcome.stderr = f"Error: {error}\n"
    return outcome


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="helm", add_help=False)
    commands = parser.add_subparsers(dest="command", parser_class=_ArgumentParser)

    version = commands.add_parser("version", add_help=False)
    version.add_argument("--short", action="store_true")

    repo = commands.add_parser("repo", add_help=False)
    repo_commands = repo.add_subparsers(dest="repo_command", parser_class=_ArgumentParser)
    add = repo_commands.add_parser("add", add_help=False)
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument("--username")
    add.add_argument("--password")
    add.add_argument("--ca-file")
    add.add_argument("--cert-file")
    add.add_argument("--key-file")
    add.add_argument("--insecure-skip-tls-verify", action="store_true")
    add.add_argument("--force-update", action="store_true")
    update = repo_commands.add_parser("update", add_help=False)
    update.add_argument("names", nargs="*")
    repo_commands.add_parser("list", add_help=False)

    template = commands.add_parser("template", add_help=False)
    template.add_argument("release")
    template.add_argument("chart")
    template.add_argument("--namespace", "-n", default="default")
    template.add_argument("--values", "-f", action="append", default=[])
    template.add_argument("--set-file", action="append", default=[])
    template.add_argument("--version")
    template.add_argument("--api-versions", action="append", default=[])
    template.add_argument("--timeout")
    template.add_argument("--wait", action="store_true")
    template.add_argument("--wait-for-jobs", action="store_true")
    template.add_argument("--create-namespace", action="store_true")
    template.add_argument("--force", action="store_true")
    template.add_argument("--force-replace", action="store_true")
    template.add_argument("--skip-tests", action="store_true")
    template.add_argument("--include-crds", action="store_true")
    return parser


_PARSER: argparse.ArgumentParser | None = None


def _dispatch(argv: list[str], env: dict[str, str], outcome: Outcome, scope: RenderScope | None) -> None:
    global _PARSER  # noqa: PLW0603 -- built once per process; argparse setup costs more than a render
    if _PARSER is None:
        _PARSER = _parser()
    known = {"version", "repo", "template"}
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is not None and command not in known:
        msg = (
            f"'helm {command}' is not available: kpops-bot's built-in helm only renders charts "
            "(version, repo add, repo update, repo list, template); install a helm binary for managed mode"
        )
        raise HelmCommandError(msg)
    args = _PARSER.parse_args(_without_global_flags(argv))
    store = RepositoryStore.from_environment(env)
    if args.command == "version":
        outcome.print(f"{helm_python.helm_sdk_version()}+kpops-bot\n")
    elif args.command == "repo" and args.repo_command == "add":
        allowed = scope.repositories if scope is not None else None
        _repo_add(args, store, ChartMirrors.from_json(env.get(MIRRORS_ENV, "")), allowed, outcome)
    elif args.command == "repo" and args.repo_command == "update":
        _repo_update(args.names, store, outcome)
    elif args.command == "repo" and args.repo_command == "list":
        _repo_list(store, outcome)
    elif args.command == "template":
        _template(args, store, outcome, scope)
    else:
        msg = "unknown command: expected version, repo add|update|list or template"
        raise HelmCommandError(msg)


def _without_global_flags(argv: list[str]) -> list[str]:
    """Drop helm's global flags, which kpops appends after the subcommand's own arguments.

    `--kube-context` and `--debug` change nothing when no cluster is contacted.
    """
    kept: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg == "--kube-context":
            skip_value = True
        elif arg != "--debug" and not arg.startswith("--kube-context="):
            kept.append(arg)
    return kept


def _repo_add(
    args: argparse.Namespace,
    store: RepositoryStore,
    mirrors: ChartMirrors,
    allowed: AllowedRepositories | None,
    outcome: Outcome,
) -> None:
    url = mirrors.apply(check_repository_name(args.name), args.url)
    if allowed is not None:
        allowed.check(args.url, url)
    repository = ChartRepository(
        name=args.name,
        url=url,
        username=args.username,
        password=args.password,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        insecure_skip_tls_verify=args.insecure_skip_tls_verify,
    )
    existing = store.get(args.name)
    if existing is not None and not args.force_update:
        if existing == repository:
            outcome.print(f'"{args.name}" already exists with the same configuration, skipping\n')
            return
        msg = f"repository name ({args.name}) already exists, please specify a different name"
        raise HelmCommandError(msg)
    try:
        store.download_index(repository)
    except helm_python.HelmError as error:
        msg = f'looks like "{repository.url}" is not a valid chart repository or cannot be reached: {error}'
        raise HelmCommandError(msg) from error
    store.put(repository)
    outcome.print(f'"{args.name}" has been added to your repositories\n')


def _repo_update(names: list[str], store: RepositoryStore, outcome: Outcome) -> None:
    repositories = store.all()
    if not repositories:
        msg = "no repositories found. You must add one before updating"
        raise HelmCommandError(msg)
    if names:
        unknown = [name for name in names if name not in repositories]
        if unknown:
            msg = f"no repositories found matching '{', '.join(unknown)}'.  Nothing will be updated"
            raise HelmCommandError(msg)
        repositories = {name: repositories[name] for name in names}
    outcome.print("Hang tight while we grab the latest from your chart repositories...\n")
    failed: list[str] = []
    for repository in repositories.values():
        try:
            store.download_index(repository)
        except helm_python.HelmError as error:
            outcome.print(
                f'...Unable to get an update from the "{repository.name}" chart repository '
                f"({repository.url}):\n\t{error}\n"
            )
            failed.append(repository.url)
        else:
            outcome.print(f'...Successfully got an update from the "{repository.name}" chart repository\n')
    if failed:
        msg = f"Failed to update the following repositories: [{' '.join(failed)}]"
        raise HelmCommandError(msg)
    outcome.print("Update Complete. ⎈Happy Helming!⎈\n")


def _repo_list(store: RepositoryStore, outcome: Outcome) -> None:
    repositories = store.all()
    if not repositories:
        msg = "no repositories to show"
        raise HelmCommandError(msg)
    width = max(len("NAME"), *(len(name) for name in repositories))
    outcome.print(f"{'NAME'.ljust(width)}\tURL\n")
    for name, repository in repositories.items():
        outcome.print(f"{name.ljust(width)}\t{repository.url}\n")


def _template(args: argparse.Namespace, store: RepositoryStore, outcome: Outcome, scope: RenderScope | None) -> None:
    readable = scope.readable if scope is not None else None
    if len(args.release) > 53 or not _RELEASE_NAME.match(args.release):
        msg = (
            f"invalid release name {args.release!r}: lower case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 53 characters"
        )
        raise HelmCommandError(msg)
    if scope is not None and args.chart.startswith("oci://"):
        scope.repositories.check_oci(args.chart)
    chart = _load_chart(args.chart, args.version, store, readable)
    values = _merge_values(args.values, args.set_file, readable)
    rendered = chart.render(values, name=args.release, namespace=args.namespace, is_install=True)
    outcome.print(render_template_output(rendered, skip_tests=args.skip_tests))


def _load_chart(
    reference: str, version: str | None, store: RepositoryStore, readable: ReadableFolders | None
) -> helm_python.Chart:
    local = Path(reference) if readable is None else readable.chart_folder(reference)
    if local is not None and local.exists():
        return helm_python.Chart.load(local)
    if reference.startswith("oci://"):
        return helm_python.Chart.load_archive(store.pull_oci(reference, version))
    repository_name, _, chart_name = reference.partition("/")
    if not _CHART_NAME.match(chart_name) or not _REPOSITORY_NAME.match(repository_name) or ".." in reference:
        # The same words whether a path exists outside the render's folders or nowhere: no probing.
        msg = (
            f"chart {reference!r} not found: not a chart folder inside the render's checkout, "
            "and not a repository chart reference (REPO/CHART)"
        )
        raise HelmCommandError(msg)
    repository = store.get(repository_name)
    if repository is None:
        msg = f"repo {repository_name} not found"
        raise HelmCommandError(msg)
    entry = resolve_chart_version(store.index(repository), chart_name, version)
    if entry is None:
        wanted = f' matching "{version}"' if version else ""
        msg = (
            f'chart "{chart_name}"{wanted} not found in {repository_name} index. '
            f"(try 'helm repo update'): no chart version found for {chart_name}-{version or ''}"
        )
        raise HelmCommandError(msg)
    return helm_python.Chart.load_archive(store.chart_archive(repository, entry))


def _merge_values(values_files: list[str], set_files: list[str], readable: ReadableFolders | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in values_files:
        try:
            text = Path(path).read_text(encoding="utf-8") if readable is None else readable.read_text(path)
            loaded = load_yaml(text) or {}
        except OSError as error:
            msg = f"open {path}: {error.strerror.lower() if error.strerror else error}"
            raise HelmCommandError(msg) from error
        except yaml.YAMLError as error:
            msg = f"failed to parse {path}: {error}"
            raise HelmCommandError(msg) from error
        _deep_merge(merged, loaded)
    for expression in set_files:
        if readable is None:
            _deep_merge(merged, helm_python.parse_set_file(expression))
        else:
            _deep_merge(merged, _granted_set_file(expression, readable))
    return merged


def _deep_merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def _granted_set_file(expression: str, readable: ReadableFolders) -> dict[str, Any]:
    """`--set-file key=path,...` of a render: each file checked and copied, so helm reads only the copy."""
    merged: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kpops-bot-set-file-") as private:
        for index, assignment in enumerate(expression.split(",")):
            key, _, path = assignment.partition("=")
            copy = Path(private) / str(index)
            copy.write_text(readable.read_text(path), encoding="utf-8")
            _deep_merge(merged, helm_python.parse_set_file(f"{key}={copy}"))
    return merged
