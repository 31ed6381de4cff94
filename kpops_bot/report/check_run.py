"""The diff report as a GitHub check run: the verdict, the summary, the details, and annotations on the lines of the
pipeline and defaults files behind each risk and error. Built from the already masked diff model."""

from __future__ import annotations

from kpops_bot.diff.model import DiffReport, PipelineDiff, Risk, RiskLevel
from kpops_bot.escape import plain
from kpops_bot.model.forge import CHECK_TEXT_LIMIT, Annotation, AnnotationLevel, CheckReport
from kpops_bot.report.markdown import details, header, title

_LEVELS = {
    RiskLevel.DANGER: AnnotationLevel.FAILURE,
    RiskLevel.WARNING: AnnotationLevel.WARNING,
    RiskLevel.NOTICE: AnnotationLevel.NOTICE,
}
_TITLE_PREFIX = "## kpops-bot dry run: "


def check_report(report: DiffReport) -> CheckReport:
    return CheckReport(
        success=not report.summary.blocking,
        title=title(report).removeprefix(_TITLE_PREFIX),
        summary=header(report).removeprefix(title(report)).strip(),
        text=details(report, CHECK_TEXT_LIMIT),
        annotations=tuple(line_annotations(report)),
    )


def line_annotations(report: DiffReport) -> list[Annotation]:
    """Errors first, then risks by level; only what points at a line (a removed pipeline's file is gone)."""
    found = [_error(pipeline) for pipeline in report.pipelines]
    found += [_risk(pipeline, risk) for pipeline in report.pipelines for risk in pipeline.risks]
    return [annotation for annotation in found if annotation is not None]


def _error(pipeline: PipelineDiff) -> Annotation | None:
    error = pipeline.error
    if error is None or error.file is None or error.line is None:
        return None
    return Annotation(
        path=error.file,
        line=error.line,
        level=AnnotationLevel.FAILURE,
        title=f"{plain(pipeline.name)}: does not render",
        message=plain(error.message),
    )


def _risk(pipeline: PipelineDiff, risk: Risk) -> Annotation | None:
    if risk.source is None:
        return None
    return Annotation(
        path=risk.source.file,
        line=risk.source.line,
        level=AnnotationLevel.NOTICE if risk.at_base else _LEVELS[risk.level],  # not this change's doing
        title=f"{risk.level.value}{' (already at the base)' if risk.at_base else ''} · {plain(pipeline.name)}: "
        f"{risk.code}{f' {plain(risk.rule)}' if risk.rule else ''}",
        message=plain(risk.message),
    )
