"""RSA keys for the GitHub Apps the tests stand up: made once a run, since making a 2048-bit key costs a tenth of a
second of CPU and the tests need only that the keys are real and, where they say so, different."""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric import rsa


@functools.cache
def app_key(number: int = 0) -> rsa.RSAPrivateKey:
    """The run's key `number`: the same key for the same number, a different one for another (keys are immutable)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
