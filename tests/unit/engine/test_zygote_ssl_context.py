"""Renders share the SSL context the fork server made, instead of parsing the CA bundle three times each.

Runs in a process of its own, as the fork server does (the test process's httpcore2 stays as it is).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

FORK_SERVER = """
import os, ssl
import httpcore2
from kpops_bot.engine import zygote

parsed = []
load = ssl.SSLContext.load_verify_locations
def counting(self, *args, **kwargs):
    parsed.append(args)
    return load(self, *args, **kwargs)
ssl.SSLContext.load_verify_locations = counting
zygote._share_ssl_context(httpcore2)
made = len(parsed)
first, second = httpcore2.default_ssl_context(), httpcore2.default_ssl_context()
print("shared:", first is second, "parsed again:", len(parsed) - made)
os.environ["SSL_CERT_FILE"] = ssl.get_default_verify_paths().openssl_cafile or "/etc/ssl/certs/ca-certificates.crt"
print("another bundle asked for:", httpcore2.default_ssl_context() is not first)
"""


@pytest.mark.subprocess
def test_the_fork_servers_context_is_shared_unless_the_environment_asks_for_other_certificates() -> None:
    pytest.importorskip("httpcore2", reason="the kpops release installed here uses httpcore2's SSL context")
    completed = subprocess.run(
        [sys.executable, "-c", FORK_SERVER],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.stdout.splitlines() == ["shared: True parsed again: 0", "another bundle asked for: True"]
