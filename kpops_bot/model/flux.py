"""Flux's annotation that makes it create an object once and never change it again: the GitOps layout puts it on
one-off Jobs, the connectors on a connector's offsets reset."""

FLUX_APPLY_POLICY = "kustomize.toolkit.fluxcd.io/ssa"
FLUX_CREATE_ONCE = "IfNotPresent"
