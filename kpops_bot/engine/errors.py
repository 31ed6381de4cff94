"""Turn what kpops raises into one line a person can act on: the file, the component and the real cause.

kpops wraps most causes (`ParsingException: Error enriching streams-app component y` hides "Field required:
values.image"), and parses YAML from substituted strings, so its YAML errors name `<unicode string>` instead of
a file. This module walks the exception chain for the cause and finds the file that does not parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml
from pydantic import ValidationError

from kpops_bot.bounded_yaml import load_bounded
from kpops_bot.model.render import ErrorKind, RenderError
from kpops_bot.sources import PipelineSources, SourceFile, config_line
from kpops_bot.text import shorten
from kpops_bot.validation import validation_issues, yaml_problem

_ENRICHING = re.compile(r"Error enriching (?P<type>\S+) component (?P<name>.+)")
# kpops names its config file in some messages: "you must define 'strimzi_topic.label' in the config.yaml"
_CONFIG_CAUSE = re.compile(r"\bconfig\.yaml\b")
_QUOTED_KEY = re.compile(r"'(?P<key>[A-Za-z_][\w.]*)'")
_NO_TYPE = "Every component must have a type defined"
_KNOWN_TYPES = "kpops' own types or a custom component in kpops/components/"
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_HELM_ERROR_LINE = re.compile(r"^Error: (?P<cause>.+)$", re.MULTILINE)
_MAX_CAUSE = 500


@dataclass(frozen=True)
class FailureContext:
    """Where the render was: its pipeline file, every file kpops read for it, and how to read them."""

    pipeline_file: str
    candidate_files: Sequence[str]
    read: Callable[[str], str | None]
    component: str | None = None
    component_type: str | None = None


def describe_failure(error: BaseException, context: FailureContext) -> RenderError:
    chain = list(_chain(error))
    if any(isinstance(link, yaml.YAMLError) for link in chain):
        return _yaml_error(next(link for link in chain if isinstance(link, yaml.YAMLError)), context)
    unnamed = _untyped_component_error(chain, context) or _unnamed_component_error(chain, context)
    if unnamed is not None:
        return unnamed
    component, component_type = _component(chain, context)
    validation = next((link for link in chain if isinstance(link, ValidationError)), None)
    if validation is not None:
        return _validation_error(validation, context, component, component_type)
    names = {type(link).__name__ for link in chain}
    if "ClassNotFoundError" in names:
        wanted = component_type or "?"
        message = (
            f"{context.pipeline_file}: component '{component}': unknown component type '{wanted}' ({_KNOWN_TYPES})"
        )
        return RenderError(
            message=message, kind=ErrorKind.COMPONENT_TYPE, file=context.pipeline_file, component=component
        )
    if "HelmError" in names:
        helm = next(link for link in chain if type(link).__name__ == "HelmError")
        return RenderError(
            message=f"{context.pipeline_file}: component '{component}': helm: {_helm_cause(helm)}",
            kind=ErrorKind.HELM,
            file=context.pipeline_file,
            component=component,
        )
    cause = chain[-1] if len(chain) > 1 else error
    if _blames_config(str(cause), context):
        return _config_error(cause, context, component)
    where = f"component '{component}': " if component else ""
    return RenderError(
        message=f"{context.pipeline_file}: {where}{type(cause).__name__}: {_one_line(str(cause))}",
        kind=ErrorKind.KPOPS,
        file=context.pipeline_file,
        component=component,
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _component(chain: list[BaseException], context: FailureContext) -> tuple[str | None, str | None]:
    for link in chain:
        match = _ENRICHING.search(str(link))
        if match:
            return match["name"].strip(), match["type"]
    return context.component, context.component_type


def _yaml_error(error: yaml.YAMLError, context: FailureContext) -> RenderError:
    for candidate in context.candidate_files:
        text = context.read(candidate)
        if text is None:
            continue
        try:
            load_bounded(text, candidate)
        except yaml.YAMLError as own:
            return _yaml_error_in(candidate, own)
    return _yaml_error_in(context.pipeline_file, error)


def _yaml_error_in(file: str, error: yaml.YAMLError) -> RenderError:
    line, problem = yaml_problem(error)
    problem = _one_line(problem)
    where = f"{file}:{line}" if line is not None else file
    return RenderError(message=f"{where}: invalid YAML: {problem}", kind=ErrorKind.YAML, file=file, line=line)


def _validation_error(
    error: ValidationError, context: FailureContext, component: str | None, component_type: str | None
) -> RenderError:
    # kpops' own order: what is wrong, then where (`Field required: values.image`)
    causes = "; ".join(f"{message}: {path}" for path, message in validation_issues(error))
    first = [str(part) for part in error.errors()[0]["loc"]] if error.errors() else []
    if component is None:
        return _config_validation_error(causes, first, context)
    kind = f" ({component_type})" if component_type else ""
    location = _sources(context).locate(component, component_type, first)
    file = location.file if location else context.pipeline_file
    line = location.line if location else None
    return RenderError(
        message=f"{file}{f':{line}' if line else ''}: component '{component}'{kind}: {_one_line(causes)}",
        kind=ErrorKind.VALIDATION,
        file=file,
        line=line,
        component=component,
    )


def _untyped_component_error(chain: list[BaseException], context: FailureContext) -> RenderError | None:
    """A component without `type:`: kpops says "Every component must have a type defined" (and, when the component
    has a name, fails on that while naming it: `KeyError: 'type'`). Named by its entry in the pipeline file."""
    if not any(isinstance(link, ValueError) and str(link).startswith(_NO_TYPE) for link in chain):
        return None
    found = _sources(context).untyped()
    if found is None:
        return None
    location, name = found
    what = f"component '{name}'" if name else "component without a name"
    return RenderError(
        message=f"{location.file}:{location.line}: {what}: Field required: type",
        kind=ErrorKind.VALIDATION,
        file=location.file,
        line=location.line,
        component=name,
    )


def _unnamed_component_error(chain: list[BaseException], context: FailureContext) -> RenderError | None:
    """A component without `name:`: kpops wraps whatever that breaks (pydantic's `Field required: name`, a validator's
    `KeyError: 'name'`) in a bare ParsingException, with no name to call it by. Named by its entry in the pipeline
    file (it was blamed on config.yaml, or on nothing)."""
    if not any(type(link).__name__ == "ParsingException" and not str(link) for link in chain):
        return None
    validation = next((link for link in chain if isinstance(link, ValidationError)), None)
    wanted = _kebab(validation.title) if validation is not None else None
    first = [str(part) for part in validation.errors()[0]["loc"]] if validation and validation.errors() else []
    found = _sources(context).unnamed(wanted, first)
    if found is None:
        return None
    location, component_type = found
    kind = ErrorKind.VALIDATION
    if any(type(link).__name__ == "ClassNotFoundError" for link in chain):
        kind, causes = ErrorKind.COMPONENT_TYPE, f"unknown component type '{component_type}'; {_KNOWN_TYPES}"
    elif validation is not None:
        causes = "; ".join(f"{message}: {path}" for path, message in validation_issues(validation))
    else:
        causes = "Field required: name"
    return RenderError(
        message=f"{location.file}:{location.line}: component without a name ({component_type}): {_one_line(causes)}",
        kind=kind,
        file=location.file,
        line=location.line,
    )


def _kebab(class_name: str) -> str:
    """kpops' type of a component class: `ProducerApp` is `producer-app`."""
    return _CAMEL_BOUNDARY.sub("-", class_name).lower()


def _config_validation_error(causes: str, first: list[str], context: FailureContext) -> RenderError:
    config_files = _config_files(context)
    file = config_files[0] if config_files else "config.yaml"
    text = context.read(file) if config_files else None
    line = config_line(text, first) if text is not None else None
    where = f"{file}:{line}" if line else "config"
    return RenderError(message=f"{where}: {_one_line(causes)}", kind=ErrorKind.CONFIG, file=file, line=line)


def _config_error(cause: BaseException, context: FailureContext, component: str | None) -> RenderError:
    """A cause kpops blames on its config file: named as that file, at the line of the key it names when present."""
    config_files = _config_files(context)
    file = config_files[0] if config_files else "config.yaml"
    line = None
    key = _QUOTED_KEY.search(str(cause))
    text = context.read(file) if config_files else None
    if key is not None and text is not None:
        line = config_line(text, key["key"].split("."))
    where = f"{file}:{line}" if line else file
    during = f" (while rendering component '{component}')" if component else ""
    return RenderError(
        message=f"{where}: {type(cause).__name__}: {_one_line(str(cause))}{during}",
        kind=ErrorKind.CONFIG,
        file=file,
        line=line,
        component=component,
    )


def _config_files(context: FailureContext) -> list[str]:
    return [path for path in context.candidate_files if PurePosixPath(path).name.startswith("config")]


def _blames_config(cause: str, context: FailureContext) -> bool:
    """The cause names the config file, or a dotted key (`'strimzi_topic.label'`) of a section the config file has."""
    if _CONFIG_CAUSE.search(cause):
        return True
    sections = set()
    for path in _config_files(context):
        loaded = _safe_load(context.read(path))
        if isinstance(loaded, dict):
            sections |= {str(key) for key in loaded}
    return any(match["key"].split(".")[0] in sections for match in _QUOTED_KEY.finditer(cause))


def _safe_load(text: str | None) -> object:
    try:
        return load_bounded(text, "config") if text is not None else None
    except yaml.YAMLError:
        return None


def _sources(context: FailureContext) -> PipelineSources:
    def files(prefix: str) -> list[SourceFile]:
        return [
            SourceFile(path, text)
            for path in context.candidate_files
            if PurePosixPath(path).name.startswith(prefix) and (text := context.read(path)) is not None
        ]

    pipeline_files = files("pipeline")
    # kpops' order: the environment's pipeline file wins over pipeline.yaml
    return PipelineSources(pipeline_files=pipeline_files[::-1], defaults_files=files("defaults"))


def _helm_cause(error: BaseException) -> str:
    text = str(error)
    match = _HELM_ERROR_LINE.search(text)
    return _one_line(match["cause"] if match else text)


def _one_line(text: str) -> str:
    collapsed = " ".join(text.split())
    return shorten(collapsed, _MAX_CAUSE)
