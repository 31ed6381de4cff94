"""Rendered manifests in a folder layout Argo CD and Flux watch, committed and pushed race-safely."""
