"""The `kpops-bot` command line.

It starts at once: at import only click and the plain enums its options list are loaded; each command imports
what it needs (kpops, git, the diff, the server) when it runs.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kpops_bot.events.model import Forge
from kpops_bot.model.kinds import ConnectorDeploy, HelmChoice, Mode, Operation, OperationMode, SandboxChoice
from kpops_bot.python_version import require_supported
from kpops_bot.version import DISTRIBUTION

if TYPE_CHECKING:
    from packaging.version import Version

    from kpops_bot.connectors import ConnectorPolicy
    from kpops_bot.diff.model import DiffReport, RiskLevel
    from kpops_bot.engine.lazy import LazyPool
    from kpops_bot.engine.settings import EngineSettings
    from kpops_bot.engine.targets import Progress
    from kpops_bot.masking import Masker
    from kpops_bot.model.render import PipelineRender
    from kpops_bot.playground.stage import Stage
    from kpops_bot.settings import BotSettings
    from kpops_bot.workspace import Workspace

USAGE_ERROR = 2
BLOCKED = 3  # `diff`: every pipeline rendered, and the report found a risk at the --fail-on level
FAIL_ON_NEVER = "never"
PART_SEPARATOR = "\n<!-- next comment -->\n"


def _assignments(values: tuple[str, ...], what: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for value in values:
        name, separator, content = value.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint=what)
        parsed[name] = content
    return parsed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DISTRIBUTION, prog_name="kpops-bot", message="%(prog)s %(version)s")
def main() -> None:
    """kpops-bot: renders and reviews KPOps deployment repositories."""
    require_supported()


@contextmanager
def _setting_up() -> Iterator[None]:
    """A rendering command's set-up: its imports and settings make many objects that live as long as the process,
    and next to no garbage. The collector waits until it is over (it would walk them again and again), and every
    later collection leaves them out (`gc.freeze`): a tenth of a second or more of a one-pipeline dry run."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@dataclass(frozen=True)
class EngineArgs:
    """The options every rendering command shares: how kpops runs and what it may see."""

    environments: tuple[str, ...]
    mode: str
    mirrors: tuple[str, ...]
    pass_env: tuple[str, ...]
    variables: tuple[str, ...]
    config_dir: str
    workspace_dir: Path | None
    workers: int | None
    timeout: float | None
    helm: str | None
    sandbox: str | None
    connectors: str
    connect_cluster: str | None
    connect_namespace: str | None

    def connector_policy(self) -> ConnectorPolicy:
        """`--connectors` and its KafkaConnect, checked as the settings check them."""
        from pydantic import ValidationError

        from kpops_bot.connectors import ConnectorKeys

        try:
            keys = ConnectorKeys(
                connectors=ConnectorDeploy(self.connectors),
                connect_cluster=self.connect_cluster,
                connect_namespace=self.connect_namespace,
            )
        except ValidationError as error:
            message = "; ".join(str(problem["msg"]).removeprefix("Value error, ") for problem in error.errors())
            raise click.BadParameter(message, param_hint="--connectors") from error
        return keys.policy()

    def settings(self) -> EngineSettings:
        from kpops_bot.engine.settings import EngineSettings
        from kpops_bot.helm.mirrors import ChartMirrors, InvalidMirrorError

        self.connector_policy()  # a usage error before anything starts

        try:
            chart_mirrors = ChartMirrors.from_pairs(self.mirrors)
        except InvalidMirrorError as error:
            raise click.BadParameter(str(error), param_hint="--chart-mirror") from error
        overrides: dict[str, Any] = {
            "chart_mirrors": dict(chart_mirrors.mapping),
            "pass_env": list(self.pass_env),
            "variables": _assignments(self.variables, "--var"),
        }
        chosen = {"workers": self.workers, "render_timeout": self.timeout, "helm": self.helm, "sandbox": self.sandbox}
        overrides |= {key: value for key, value in chosen.items() if value is not None}
        return EngineSettings(**overrides)

    def workspace(self) -> Workspace:
        from kpops_bot.workspace import Workspace

        return Workspace(self.workspace_root())

    def workspace_root(self) -> Path:
        """The workspace's folder, made, with the folder of its checkouts (which a render pool binds): known
        before `workspace` imports git, so that the pool can start sooner."""
        root = (_made(self.workspace_dir, "--workspace") if self.workspace_dir else _default_workspace()).resolve()
        _made(root / "checkouts", "--workspace")
        return root


def _default_workspace() -> Path:
    import tempfile

    return _made(Path(tempfile.gettempdir()) / "kpops-bot-workspace", "--workspace")


def _made(folder: Path, option: str) -> Path:
    """A folder the command writes to, made now: one that cannot be is a usage error naming it, not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.BadParameter(f"{folder} cannot be created: {error.strerror}", param_hint=option) from error
    return folder


_ENGINE_OPTIONS = [
    click.option("--environment", "environments", multiple=True, help="kpops environment; repeat for several."),
    click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.MANIFEST.value, show_default=True),
    click.option("--chart-mirror", "mirrors", multiple=True, metavar="FROM=TO", help="Chart repo name or URL → URL."),
    click.option("--pass-env", multiple=True, metavar="NAME", help="Environment variable kpops may read; repeat."),
    click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Variable given to kpops; repeat."),
    click.option("--config-dir", default=".", show_default=True, help="Folder of config.yaml in the repository."),
    click.option("--workspace", "workspace_dir", type=click.Path(path_type=Path), help="Cache of clones."),
    click.option("--workers", type=click.IntRange(min=1), help="Renders at once (default: CPU count)."),
    click.option("--timeout", type=click.FloatRange(min=1), help="Seconds one pipeline may take (default 300)."),
    click.option("--helm", type=click.Choice([h.value for h in HelmChoice]), help="Helm to use (default auto)."),
    click.option(
        "--sandbox",
        type=click.Choice([s.value for s in SandboxChoice]),
        help="Isolation of repository code (default auto: the strongest available).",
    ),
    click.option(
        "--connectors",
        type=click.Choice([c.value for c in ConnectorDeploy]),
        default=ConnectorDeploy.NONE.value,
        show_default=True,
        help="Kafka connectors in the GitOps modes: none (kpops renders none) or strimzi (a KafkaConnector each).",
    ),
    click.option("--connect-cluster", help="The KafkaConnect resource's name (with --connectors strimzi)."),
    click.option("--connect-namespace", help="The KafkaConnect resource's namespace (default: the controller's)."),
]


def engine_options(command: Callable[..., None]) -> Callable[..., None]:
    """Adds the shared options; the command receives them as one `engine: EngineArgs` argument."""

    @functools.wraps(command)
    def with_engine(**kwargs: Any) -> None:
        engine = EngineArgs(**{field.name: kwargs.pop(field.name) for field in fields(EngineArgs)})
        command(engine=engine, **kwargs)

    decorated: Callable[..., None] = with_engine
    for option in reversed(_ENGINE_OPTIONS):
        decorated = option(decorated)
    return decorated


@main.command()
@click.option("--repo", "source", required=True, help="Repository: a local path or any URL git can clone.")
@click.option("--rev", "revision", default="HEAD", show_default=True, help="Branch, tag or commit.")
@click.option("--pipeline", "pipelines", multiple=True, help="Pipeline name or folder; repeat. Default: all.")
@click.option(
    "--operation",
    type=click.Choice([o.value for o in Operation]),
    default=Operation.DEPLOY.value,
    show_default=True,
)
@click.option("--format", "output_format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@engine_options
def render(
    source: str,
    revision: str,
    pipelines: tuple[str, ...],
    operation: str,
    output_format: str,
    engine: EngineArgs,
) -> None:
    """Render pipelines of a repository at a revision, offline (manifest or argo mode).

    Exit code 0 when every pipeline rendered, 1 when any failed (the output still shows all), 2 on usage errors
    (an unknown pipeline or environment among them).
    """
    if len(engine.environments) > 1:
        raise click.BadParameter("render takes one environment", param_hint="--environment")
    _say_uncommitted(source)
    with _setting_up():
        settings = engine.settings()
        _probe_the_sandbox_soon(settings)
        from kpops_bot.engine.lazy import LazyPool, kpops_releases

        workspace = engine.workspace()
        pools = LazyPool(
            settings,
            checkouts=[workspace.root / "checkouts"],
            releases=kpops_releases(settings, workspace.root / "kpops-environments"),
            on_wait=_say_waiting,
        )
        pools.warm_up()  # the fork server imports kpops while the revision is resolved and checked out
    with pools as pool:
        with _setting_up():
            from kpops_bot.connectors import with_connectors
            from kpops_bot.diff.settings import DiffSettings
            from kpops_bot.engine.targets import UnknownPipelineError, render_revision
            from kpops_bot.model.render import RenderSpec
            from kpops_bot.sandbox.layers import SandboxUnavailableError
            from kpops_bot.workspace import WorkspaceError

            spec = RenderSpec(
                environment=engine.environments[0] if engine.environments else None,
                mode=Mode(engine.mode),
                operation=Operation(operation),
                config_dir=engine.config_dir,
            )
            masker = DiffSettings().masker(settings)
        try:
            _name_the_sandbox(settings)
            connectors = engine.connector_policy().for_environment(spec.environment)
            results = render_revision(workspace, pool, source, revision, pipelines, spec, _progress(masker))
            results = [with_connectors(result, connectors, masker) for result in results]
        except (UnknownPipelineError, WorkspaceError, SandboxUnavailableError) as error:
            click.echo(f"Error: {masker.mask_text(str(error))}", err=True)
            sys.exit(USAGE_ERROR)
    click.echo(_format(results, output_format), nl=False)
    sys.exit(0 if all(result.ok for result in results) else 1)


@main.command()
@click.option("--repo", "source", required=True, help="Repository: a local path or any URL git can clone.")
@click.option("--base", required=True, help="The branch the change goes into (compared at the merge base).")
@click.option("--head", required=True, help="The branch, tag or commit with the change.")
@click.option("--pipeline", "only", multiple=True, help="Only these affected pipelines (name or folder); repeat.")
@click.option(
    "--format", "output_format", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True
)
@click.option(
    "--split-for",
    type=click.Choice(["github", "gitlab"]),
    help="Split the markdown into comments as that forge's size limit needs (parts separated by a line).",
)
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Render cache (default: in the workspace).")
@click.option("--no-cache", is_flag=True, help="Render everything again.")
@click.option(
    "--fail-on",
    type=click.Choice(["danger", "warning", "notice", FAIL_ON_NEVER]),
    help="Exit 3 on a risk of this level or a more severe one; never: do not (default: the blocking_risks setting).",
)
@click.option(
    "--policies",
    "policy_folders",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A folder of Rego policies that judges the change too (besides the repository's policies/); repeat.",
)
@engine_options
def diff(
    source: str,
    base: str,
    head: str,
    only: tuple[str, ...],
    output_format: str,
    split_for: str | None,
    cache_dir: Path | None,
    no_cache: bool,
    fail_on: str | None,
    policy_folders: tuple[Path, ...],
    engine: EngineArgs,
) -> None:
    """Dry-run diff of the pipelines a change affects: HEAD against its merge base with BASE, as a pull request.

    Exit code 0 when every pipeline rendered and nothing blocks, 1 when any pipeline failed (the report still shows
    the rest), 2 on usage errors, 3 when the report blocks: a risk at the --fail-on level (a CI gate).
    """
    with _setting_up():
        settings = engine.settings()
        _probe_the_sandbox_soon(settings)
        from kpops_bot.engine.lazy import LazyPool, kpops_releases

        root = engine.workspace_root()
        if cache_dir is not None and not no_cache:
            _made(cache_dir, "--cache-dir")
        sandbox_line = _SandboxLine(settings)
        pools = LazyPool(
            settings,
            checkouts=[root / "checkouts"],
            releases=kpops_releases(settings, root / "kpops-environments"),
            on_wait=sandbox_line.before_waiting,
        )
        # A changed pipeline is rendered at least at head: the fork server imports kpops while this process
        # imports the diff's modules, resolves the revisions and looks up the cache. Killed unused when everything
        # is cached.
        pools.warm_up()
        workspace = engine.workspace()
    _say_uncommitted(source)  # once the pool starts: its git status is no reason for the pool to wait
    default_cache = workspace.root / "render-cache"
    with pools:
        report, max_parts = _diff_report(
            pools,
            sandbox_line,
            workspace,
            engine,
            (source, base, head, only),
            None if no_cache else cache_dir or default_cache,
            _blocking_levels(fail_on),
            policy_folders,
        )
    if output_format == "json":
        from kpops_bot.report.as_json import render_json

        click.echo(render_json(report, compact=True), nl=False)
    else:
        from kpops_bot.model.forge import COMMENT_LIMITS
        from kpops_bot.report.markdown import render_markdown

        limit = COMMENT_LIMITS[Forge(split_for)] if split_for else None
        click.echo(PART_SEPARATOR.join(render_markdown(report, limit=limit, max_parts=max_parts)), nl=False)
    sys.exit(1 if report.summary.failed else BLOCKED if report.blocking_risks else 0)


def _blocking_levels(fail_on: str | None) -> frozenset[RiskLevel] | None:
    """The risk levels that block under `--fail-on` (None: the settings' `blocking_risks`)."""
    from kpops_bot.diff.model import RiskLevel

    if fail_on is None:
        return None
    if fail_on == FAIL_ON_NEVER:
        return frozenset()
    return frozenset(level for level in RiskLevel if level.rank >= RiskLevel(fail_on).rank)


def _say_uncommitted(source: str) -> None:
    """A local repository's uncommitted changes are not rendered (the diff compares commits): say so on stderr."""
    import os
    import subprocess

    from kpops_bot.git_safety import safe_git_env

    folder = Path(source)
    if not folder.is_dir():
        return
    status = subprocess.run(
        ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=normal"],
        capture_output=True,
        text=True,
        env=safe_git_env(os.environ),
        check=False,
    )
    if status.returncode == 0 and status.stdout.strip():
        count = len(status.stdout.splitlines())
        click.echo(
            f"Note: {source} has {count} uncommitted change(s); they are not part of the render, which reads commits "
            "(commit them to include them).",
            err=True,
        )


def _diff_report(
    pools: LazyPool,
    sandbox_line: _SandboxLine,
    workspace: Workspace,
    engine: EngineArgs,
    revisions: tuple[str, str, str, tuple[str, ...]],
    cache_dir: Path | None,
    blocking_levels: frozenset[RiskLevel] | None,
    policy_folders: tuple[Path, ...],
) -> tuple[DiffReport, int]:
    """The diff of (repository, base, head, only pipelines) and how many comment parts the report may take; a usage
    error (unknown pipeline, unreadable repository, no sandbox) ends the command with its message."""
    with _setting_up():
        from dataclasses import replace

        from kpops_bot.diff.settings import DiffSettings
        from kpops_bot.dryrun.request import DiffRequest
        from kpops_bot.dryrun.run import diff_revisions
        from kpops_bot.engine.cache import RenderCache
        from kpops_bot.engine.targets import UnknownPipelineError
        from kpops_bot.model.policy import PolicyError
        from kpops_bot.sandbox.layers import SandboxUnavailableError
        from kpops_bot.workspace import WorkspaceError

        settings = pools.settings
        diff_settings = DiffSettings()
        # The command line renders manifest or argo mode, and judges risks by what that mode does.
        options = diff_settings.options(settings)
        options = replace(
            options,
            operation_mode=OperationMode(engine.mode),
            connectors=engine.connector_policy(),
            policies=replace(
                options.policies, folders=(*options.policies.folders, *(str(folder) for folder in policy_folders))
            ),
        )
        if blocking_levels is not None:  # the report says blocking where the exit code does
            options = replace(options, blocking_levels=blocking_levels)
        cache = None if cache_dir is None else RenderCache(cache_dir, settings.render_cache_bytes)
        source, base, head, only = revisions
        request = DiffRequest(
            source=source,
            base=base,
            head=head,
            environments=list(engine.environments) or [None],
            mode=Mode(engine.mode),
            config_dir=engine.config_dir,
            only=only,
            known_environments_only=True,
            fork_for_diffs=True,
        )
    try:
        report = diff_revisions(
            workspace, pools, request, options, cache, sandbox_line.before(_progress(options.masker))
        )
        sandbox_line.say()
    except (UnknownPipelineError, WorkspaceError, SandboxUnavailableError) as error:
        _say_error(sandbox_line, error, options.masker)
        sys.exit(USAGE_ERROR)
    except PolicyError as error:
        _say_error(sandbox_line, error, options.masker)
        sys.exit(1)
    finally:
        if cache is not None:
            cache.bound()  # also a cache filled by earlier runs, or by a larger bound
    return report, diff_settings.max_comment_parts


@main.command()
@click.option("--repo", "source", required=True, help="Repository: a local path or any URL git can clone.")
@click.option("--rev", "revision", default="HEAD", show_default=True, help="Branch, tag or commit.")
@click.option("--format", "output_format", type=click.Choice(["mermaid", "json", "dot"]), default="mermaid")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Render cache (default: in the workspace).")
@click.option("--no-cache", is_flag=True, help="Render everything again.")
@engine_options
def graph(
    source: str, revision: str, output_format: str, cache_dir: Path | None, no_cache: bool, engine: EngineArgs
) -> None:
    """The repository's data flow at a revision: which pipeline's components write and read which topics.

    Exit code 0 when every pipeline rendered, 1 when any failed (the graph names them), 2 on usage errors.
    """
    if len(engine.environments) > 1:
        raise click.BadParameter("graph takes one environment", param_hint="--environment")
    with _setting_up():
        settings = engine.settings()
        _probe_the_sandbox_soon(settings)
        from kpops_bot.diff.settings import DiffSettings
        from kpops_bot.dryrun.graph import repository_graph
        from kpops_bot.engine.cache import RenderCache
        from kpops_bot.engine.lazy import LazyPool, kpops_releases
        from kpops_bot.engine.targets import UnknownPipelineError
        from kpops_bot.model.render import RenderSpec
        from kpops_bot.report.graph import GraphFormat, render_graph
        from kpops_bot.sandbox.layers import SandboxUnavailableError
        from kpops_bot.workspace import WorkspaceError

        workspace = engine.workspace()
        folder = None if no_cache else _made(cache_dir or workspace.root / "render-cache", "--cache-dir")
        cache = None if folder is None else RenderCache(folder, settings.render_cache_bytes)
        spec = RenderSpec(
            environment=engine.environments[0] if engine.environments else None,
            mode=Mode(engine.mode),
            config_dir=engine.config_dir,
        )
        masker = DiffSettings().masker(settings)
        pools = LazyPool(
            settings,
            checkouts=[workspace.root / "checkouts"],
            releases=kpops_releases(settings, workspace.root / "kpops-environments"),
            on_wait=_say_waiting,
        )
    with pools as pool:
        try:
            _name_the_sandbox(settings)
            found = repository_graph(workspace, pool, source, revision, spec, cache, _progress(masker))
        except (UnknownPipelineError, WorkspaceError, SandboxUnavailableError) as error:
            click.echo(f"Error: {masker.mask_text(str(error))}", err=True)
            sys.exit(USAGE_ERROR)
        finally:
            if cache is not None:
                cache.bound()
    click.echo(masker.mask_text(render_graph(found, GraphFormat(output_format))), nl=False)
    sys.exit(1 if found.failed else 0)


def _probe_the_sandbox_soon(settings: EngineSettings) -> None:
    from kpops_bot.sandbox.layers import probe_soon

    probe_soon(settings.sandbox, settings.sandbox_uid)


def _name_the_sandbox(settings: EngineSettings) -> None:
    """The first progress line: the layer renders will run in, chosen before any render (the pool starts later)."""
    from kpops_bot.sandbox.layers import choose

    click.echo(choose(settings.sandbox, settings.sandbox_uid).describe(), err=True)


class _SandboxLine:
    """`_name_the_sandbox` once, when the first line that follows it is due: not up front, where waiting for the
    sandbox's probe would hold up the git work, which needs no sandbox."""

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._said = False

    def say(self) -> None:
        if not self._said:
            self._said = True
            _name_the_sandbox(self._settings)

    def before(self, progress: Progress) -> Progress:
        def report(done: int, total: int, result: PipelineRender) -> None:
            self.say()
            progress(done, total, result)

        return report

    def before_waiting(self, version: Version) -> None:
        self.say()
        _say_waiting(version)


def _say_error(sandbox_line: _SandboxLine, error: Exception, masker: Masker) -> None:
    """The error after the sandbox's name; no sandbox at all is the error then, as it was checked first."""
    from kpops_bot.sandbox.layers import SandboxUnavailableError

    try:
        sandbox_line.say()
    except SandboxUnavailableError as unavailable:
        error = unavailable
    click.echo(f"Error: {masker.mask_text(str(error))}", err=True)


def _say_waiting(version: Version) -> None:
    from kpops_bot.report.notices import preparing_kpops

    click.echo(preparing_kpops(str(version)), err=True)


def _progress(masker: Masker) -> Progress:
    def report(done: int, total: int, result: PipelineRender) -> None:
        outcome = "ok" if result.error is None else f"failed: {masker.mask_text(result.error.message)}"
        short = result.revision[:12]
        click.echo(f"[{done}/{total}] {result.name} @ {short}: {outcome}", err=True)

    return report


def _format(results: list[PipelineRender], output_format: str) -> str:
    import json

    from kpops_bot.yaml_text import dump_yaml

    document = {"pipelines": [result.model_dump(mode="json") for result in results]}
    if output_format == "json":
        return json.dumps(document, indent=2) + "\n"
    return dump_yaml(document)


@main.command(name="serve")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file (YAML, keys: docs/configuration-reference.md); KPOPS_BOT_* variables win over it.",
)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 8080).")
@click.option("--insecure-skip-signature", is_flag=True, help="Accept unsigned deliveries (local development only).")
def serve(config_file: Path | None, host: str | None, port: int | None, insecure_skip_signature: bool) -> None:
    """Run the bot: webhook server, store and workers (settings: KPOPS_BOT_* variables over --config)."""

    from sqlalchemy.exc import SQLAlchemyError

    from kpops_bot import logs
    from kpops_bot.sandbox.layers import SandboxUnavailableError
    from kpops_bot.server.bot import Bot

    settings = _load_settings(config_file)
    chosen = {"host": host, "port": port, "insecure_skip_signature": insecure_skip_signature or None}
    settings = settings.model_copy(update={key: value for key, value in chosen.items() if value is not None})
    problems = settings.startup_problems()
    if problems:
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        sys.exit(USAGE_ERROR)
    if settings.insecure_skip_signature:
        click.echo("Warning: unsigned deliveries are accepted; anyone who reaches this port can queue jobs.", err=True)
    _can_listen(settings.host, settings.port)
    _make_data_dir(settings.data_dir)
    logs.configure(settings.log_format)
    try:
        bot = Bot(settings, config_file=config_file)
    except SandboxUnavailableError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    except SQLAlchemyError as error:
        _store_cannot_open(settings, error)
    if bot.services.sandbox is not None and bot.services.sandbox.explicit_off:
        click.echo("Warning: sandbox: off; pull request code runs with the bot's own rights.", err=True)
    bot.serve()


def _store_cannot_open(settings: BotSettings, error: Exception) -> NoReturn:
    """The store named by its URL (password hidden) and the driver's first line: a URL that is not one is a usage
    error (2); a database that does not answer is the surroundings' (1)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(error, ArgumentError):
        click.echo(
            f"Error: database_url is not a SQLAlchemy URL (postgresql+psycopg://USER@HOST/DB): {error}", err=True
        )
        sys.exit(USAGE_ERROR)
    url = make_url(settings.database).render_as_string(hide_password=True)
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    click.echo(f"Error: the store at {url} cannot be opened: {cause}", err=True)
    sys.exit(1)


def _can_listen(host: str, port: int) -> None:
    """The address is free, checked before the store is opened and workers start (uvicorn would say so only after
    "ready", and an intake process's start with a traceback); or a usage error naming it."""
    import os
    import socket

    if port == 0:
        return
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        click.echo(f"Error: cannot listen on {host}:{port}: {reason}", err=True)
        sys.exit(USAGE_ERROR)


def _make_data_dir(data_dir: Path) -> None:
    """The bot's data folder, made before anything is written there; or a usage error naming it and the reason."""
    import os

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        where = f" ({error.filename})" if error.filename and str(error.filename) != str(data_dir) else ""
        click.echo(f"Error: data_dir {data_dir} cannot be created: {error.strerror}{where}", err=True)
        sys.exit(USAGE_ERROR)
    if not os.access(data_dir, os.W_OK | os.X_OK):
        click.echo(f"Error: data_dir {data_dir} is not writable by this user", err=True)
        sys.exit(USAGE_ERROR)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--forge", type=click.Choice([f.value for f in Forge]), required=True)
@click.option("--event", "event_name", required=True, help="pull_request, issue_comment, Merge Request Hook, ...")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="The running bot.")
@click.option("--delivery", help="Delivery id (default: a new one; reuse one to test deduplication).")
@click.option("--secret", envvar="KPOPS_BOT_REPLAY_SECRET", help="Webhook secret (or KPOPS_BOT_REPLAY_SECRET).")
def replay(file: Path, forge: str, event_name: str, url: str, delivery: str | None, secret: str | None) -> None:
    """Send a stored delivery FILE (JSON body) to a running bot, signed as the forge signs it."""
    import uuid

    import httpx

    from kpops_bot.events.signatures import github_signature

    body = file.read_bytes()
    delivery_id = delivery or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if Forge(forge) is Forge.GITHUB:
        headers |= {"X-GitHub-Event": event_name, "X-GitHub-Delivery": delivery_id}
        if secret:
            headers["X-Hub-Signature-256"] = github_signature(secret, body)
        endpoint = "github"
    else:
        headers |= {"X-Gitlab-Event": event_name, "Idempotency-Key": delivery_id}
        if secret:
            headers["X-Gitlab-Token"] = secret
        endpoint = "gitlab"
    try:
        response = httpx.post(f"{url.rstrip('/')}/webhooks/{endpoint}", content=body, headers=headers, timeout=30)
    except httpx.HTTPError as error:
        from kpops_bot.setup.reach import unreachable_cause

        click.echo(f"Error: cannot reach {url}: {unreachable_cause(error)}", err=True)
        sys.exit(USAGE_ERROR)
    click.echo(f"{response.status_code} {response.text}")
    sys.exit(0 if response.status_code < 400 else 1)


@main.group()
def charts() -> None:
    """Chart repositories for tests and demos."""


@charts.command(name="serve")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", default=8879, show_default=True, type=click.IntRange(0, 65535))
def serve_charts(directory: Path, port: int) -> None:
    """Serve DIRECTORY as a Helm repository on 127.0.0.1:PORT (until interrupted): its chart sources, or, when it
    holds an index.yaml, the published repository it is (a gh-pages branch: the index and its .tgz archives)."""
    from kpops_bot.helm.chart_server import ChartServer, NoChartsError

    try:
        server = ChartServer(directory, port=port).start()
    except OSError as error:
        click.echo(f"Error: cannot listen on 127.0.0.1:{port}: {error.strerror}", err=True)
        sys.exit(USAGE_ERROR)
    except NoChartsError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    click.echo(f"Serving {', '.join(server.archives)} at {server.url}", err=True)
    if server.missing:
        click.echo(f"Left out of the index (no archive here): {', '.join(server.missing)}", err=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


@main.command()
@click.option(
    "--sandbox",
    type=click.Choice([choice.value for choice in SandboxChoice]),
    default=SandboxChoice.AUTO.value,
    show_default=True,
    help="Isolation of the renders (see docs/security.md).",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True, help="Seconds per step.")
@click.option("--keep", is_flag=True, help="Stay up afterwards (until Ctrl-C), for webhooks and pages of your own.")
@click.option(
    "--port",
    type=click.IntRange(1, 65533),
    default=None,
    help="The bot's port; the GitHub stand-in takes the next one, the charts the one after (default: free ports).",
)
@click.option("--story/--no-story", default=True, show_default=True, help="Play the pull request's story.")
def playground(sandbox: str, timeout: float, keep: bool, port: int | None, story: bool) -> None:
    """Play the bot's main job on this machine: a pull request, its report, a command, the merge and its commit.

    A GitHub stand-in, the example charts and the bot (SQLite) run on 127.0.0.1 with the example deployment
    repository, in a temporary folder that is removed at the end. No network, no account.
    """
    import time

    from kpops_bot.playground.scene import PlaygroundError, play
    from kpops_bot.playground.stage import PortInUseError, Stage, packaged_examples
    from kpops_bot.sandbox.layers import SandboxUnavailableError

    started = time.monotonic()
    try:
        with Stage(packaged_examples(), SandboxChoice(sandbox), port) as stage:
            click.echo(
                f"GitHub stand-in {stage.fake.origin} hosting acme/deployments, charts {stage.charts_url}, "
                f"the bot {stage.bot_url} (SQLite in {stage.folder}; {stage.sandbox_layer})"
            )
            if story:
                play(stage, _TerminalNarrator(), timeout)
            if keep:
                _stay_up(stage)
    except PortInUseError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    except PlaygroundError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    except SandboxUnavailableError as error:
        click.echo(f"Error: {error} (here: kpops-bot playground --sandbox off)", err=True)
        sys.exit(USAGE_ERROR)
    click.secho(f"\nDone in {time.monotonic() - started:.0f} s; everything stopped, {stage.folder} removed.", bold=True)


def _stay_up(stage: Stage) -> None:
    """Say where everything is, then wait for Ctrl-C or SIGTERM (both end in the stage's cleanup)."""
    import signal
    import threading

    from kpops_bot.playground.stage import BOT_TOKEN, FULL_NAME, WEBHOOK_SECRET

    click.secho("\nThe playground stays up until Ctrl-C:", bold=True)
    click.echo(f"  GitHub stand-in (REST API) {stage.fake.base_url}  the bot's token {BOT_TOKEN}")
    clone = stage.fake.origin.replace("://", f"://x-access-token:{BOT_TOKEN}@", 1)
    click.echo(f"  the repository             git clone {clone}/{FULL_NAME}.git")
    click.echo(f"  the bot's webhooks         {stage.bot_url}/webhooks/github  secret {WEBHOOK_SECRET}")
    click.echo(f"  the status page            {stage.status_url}")
    click.echo(f"  metrics                    {stage.bot_url}/metrics")
    click.echo(f"  charts                     {stage.charts_url}")
    click.echo("Ready.")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda _number, _frame: stopped.set())
    try:
        while not stopped.wait(3600):
            pass
    except KeyboardInterrupt:
        pass


class _TerminalNarrator:
    def step(self, text: str) -> None:
        click.secho(f"\n━━ {text}", bold=True)

    def show(self, text: str) -> None:
        click.echo(text.rstrip("\n"))


@main.group()
def setup() -> None:
    """Connect a forge to the bot (the data in webhooks/)."""


@setup.command(name="github-app")
@click.option("--bot-url", required=True, help="Where GitHub reaches the bot, e.g. https://kpops-bot.example.com.")
@click.option("--org", "organisation", help="Register the App for this organisation (default: your user).")
@click.option("--github-url", default="https://github.com", show_default=True, help="GitHub's web address.")
@click.option("--api-url", default="https://api.github.com", show_default=True, help="GitHub's API address.")
@click.option("--name", help="The App's name (default: kpops-bot; names are unique on GitHub).")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Where the App's settings and private key are written (readable by you only).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Loopback port of the page (default: free).")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True, help="Seconds to wait.")
def github_app(
    bot_url: str,
    organisation: str | None,
    github_url: str,
    api_url: str,
    name: str | None,
    output_dir: Path,
    port: int,
    timeout: float,
) -> None:
    """Register the bot's GitHub App from webhooks/github-app.json (GitHub's manifest flow, in your browser)."""
    from kpops_bot.setup.github_app import FlowOptions, ManifestFlow

    options = FlowOptions(bot_url, output_dir, github_url, api_url, organisation, name, port)
    try:
        flow = ManifestFlow(options).start()
    except OSError as error:
        click.echo(f"Error: cannot listen on 127.0.0.1:{port}: {error.strerror}", err=True)
        sys.exit(USAGE_ERROR)
    click.echo(f"Open {flow.url} in a browser signed in to GitHub, and confirm the App there.", err=True)
    try:
        finished = flow.wait(timeout)
    finally:
        flow.stop()
    if not finished or flow.settings_file is None:
        click.echo(f"Error: {flow.error or 'no answer from GitHub in time'}", err=True)
        sys.exit(1)
    click.echo(
        f"The App's settings are in {flow.settings_file}: merge them into the bot's settings file, or set them as "
        "KPOPS_BOT_GITHUB__APP_ID, KPOPS_BOT_GITHUB__APP_PRIVATE_KEY and KPOPS_BOT_GITHUB__WEBHOOK_SECRET."
    )


@setup.command(name="gitlab-hook")
@click.option("--project", required=True, help="The deployment project: GROUP/PROJECT or its id.")
@click.option("--bot-url", required=True, help="Where GitLab reaches the bot, e.g. https://kpops-bot.example.com.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The bot's settings file (gitlab.url, gitlab.token, gitlab.webhook_secret); KPOPS_BOT_* variables win.",
)
def gitlab_hook(project: str, bot_url: str, config_file: Path | None) -> None:
    """Create or update the project's webhook to the bot, with the events in webhooks/gitlab-hook.json."""
    import gitlab

    from kpops_bot.setup.gitlab_hook import HookError, ensure_hook

    settings = _load_settings(config_file)
    token, secret = settings.gitlab.token, settings.gitlab.webhook_secret
    if token is None or secret is None:
        click.echo("Error: set gitlab.token and gitlab.webhook_secret (KPOPS_BOT_GITLAB__*) first", err=True)
        sys.exit(USAGE_ERROR)
    client = gitlab.Gitlab(
        settings.gitlab.url, private_token=token.get_secret_value(), keep_base_url=True, timeout=settings.gitlab.timeout
    )
    try:
        target = client.projects.get(project, lazy=True)
        outcome = ensure_hook(target, bot_url, secret.get_secret_value())
    except HookError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    click.echo(f"Hook {outcome.hook_id} {outcome.change} for {project}: {outcome.url}")


@main.group()
def policy() -> None:
    """Rego policies as the bot evaluates them (see docs/policies.md)."""


@policy.command(name="test")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
def policy_test(folder: Path) -> None:
    """Run the folder's `test_` rules, as `conftest verify` does. Exit code 0 when every test passes, 1 otherwise."""
    from kpops_bot.model.policy import Limits, PolicyError
    from kpops_bot.policy.load import from_directory
    from kpops_bot.policy.verify import verify

    try:
        results = verify(from_directory(folder), Limits())
    except PolicyError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.name}")
    failed = sum(not result.passed for result in results)
    click.echo(f"{len(results)} tests, {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)


@main.command()
@click.argument("kind", type=click.Choice(["repo-config", "settings"]))
def schema(kind: str) -> None:
    """Print the JSON schema of `.kpops-bot.yaml` (repo-config) or of the bot's settings file (settings)."""
    from kpops_bot.schemas import SchemaKind, schema_text

    click.echo(schema_text(SchemaKind(kind)), nl=False)


@main.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference of the docs site (docs/configuration-reference.md), made from the models."""
    from kpops_bot.config_reference import reference

    click.echo(reference(), nl=False)


@main.command()
def action() -> None:
    """Run the bot for the one GitHub Actions event of this job (what action.yml runs).

    Reads GITHUB_EVENT_NAME and GITHUB_EVENT_PATH, the bot's settings from KPOPS_BOT_* variables, and writes the
    step's outputs (outcome, verdict, blocking, report-json) and the job's step summary. Exit code 0 unless the bot
    could not do its job (1) or the event cannot be read (2); a failing preview fails the commit's status, not the
    step.
    """
    import logging
    import os

    from kpops_bot.action import ActionError, run_action, write_outputs
    from kpops_bot.masking import mask_logs

    settings = _load_settings(None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    mask_logs(settings.secrets_masker(), logging.getLogger())
    try:
        outcome = run_action(os.environ, settings)
    except ActionError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(USAGE_ERROR)
    write_outputs(outcome, os.environ)
    click.echo(f"kpops-bot: {outcome.outcome} (verdict: {outcome.verdict})")
    sys.exit(1 if outcome.verdict == "error" else 0)


def _load_settings(config_file: Path | None) -> BotSettings:
    """The bot's settings (KPOPS_BOT_* variables over `config_file`), or a usage error in one line naming the file and
    line or the variable to fix."""
    import os

    from kpops_bot.settings import ENV_PREFIX, BotSettings, UnknownVariableError
    from kpops_bot.settings_problems import settings_problem

    try:
        return BotSettings.load(config_file)
    except UnknownVariableError as error:
        problem: str | None = str(error)
    except Exception as error:  # what loading raised is named when it is about the settings, else re-raised
        problem = settings_problem(error, BotSettings, config_file, os.environ, ENV_PREFIX)
        if problem is None:
            raise
    click.echo(f"Error: invalid settings: {problem}", err=True)
    sys.exit(USAGE_ERROR)
