"""What a change of the kpops release does, decided from the renders of both sides (pure).

A changed release changes how every pipeline renders, so every pipeline is affected. The migration risks are
found in the renders themselves: a component whose type differs between the sides, a component of a
streams-bootstrap v2 type (`-v2`, kept by kpops 8 for the old charts), a pipeline that renders before and fails
after; and, per major crossed, the breaking change kpops' migration guide names that a render cannot show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.version import Version

from kpops_bot.changes import AffectedPipelines
from kpops_bot.model.render import PipelineRender

# Breaking changes per major that renders do not reveal (kpops' migration guide).
MAJOR_CHANGES = {
    9: "kpops 9: operation modes replace `kpops manifest`; manifest and argo modes need `strimzi_topic.label`",
    10: "kpops 10: `diff_config` moved to HelmApp; components may be switched off with `enabled: false`",
    11: "kpops 11: Kafka Connect offsets are reset through the REST API; connector `resetter_*` settings are ignored",
}


def all_affected(base: Iterable[str], head: Iterable[str]) -> AffectedPipelines:
    """Every pipeline of either side: added, removed or changed."""
    before, after = frozenset(base), frozenset(head)
    return AffectedPipelines(added=after - before, removed=before - after, changed=before & after)


def migration_risks(
    base: str, head: str, renders: Mapping[str, tuple[PipelineRender | None, PipelineRender | None]]
) -> list[str]:
    """The risks of moving from release `base` to `head`; `renders` maps a pipeline label to (base, head)."""
    risks = [MAJOR_CHANGES[major] for major in _majors_crossed(base, head) if major in MAJOR_CHANGES]
    for label, (before, after) in sorted(renders.items()):
        risks += _pipeline_risks(label, base, head, before, after)
    return risks


def _majors_crossed(base: str, head: str) -> list[int]:
    low, high = sorted((Version(base).major, Version(head).major))
    return list(range(low + 1, high + 1))


def _pipeline_risks(
    label: str, base: str, head: str, before: PipelineRender | None, after: PipelineRender | None
) -> list[str]:
    risks: list[str] = []
    if before is not None and before.ok and after is not None and after.error is not None:
        risks.append(f"{label}: renders with kpops {base} but not with kpops {head}: {after.error.message}")
    old_types = {component.name: component.type for component in (before.components if before else [])}
    for component in after.components if after else []:
        old = old_types.get(component.name)
        if old is not None and old != component.type:
            risks.append(
                f"{label}: component '{component.name}' is '{old}' under kpops {base}, "
                f"'{component.type}' under kpops {head}"
            )
        if component.type.endswith("-v2"):
            risks.append(
                f"{label}: component '{component.name}' uses '{component.type}', a streams-bootstrap v2 "
                "type; move it to the v3 type and chart"
            )
    return risks
