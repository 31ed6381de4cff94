"""The test bed: real parts that the tests and the benchmarks both stand on (git repositories from the fixtures,
the PostgreSQL server, kpops releases, the fake forges, the bot in process and signed deliveries).

Not shipped: it reads `fixtures/`, which only a checkout has. Imports point one way: `tests/` and `bench/` import
it, it imports neither, and `kpops_bot` never imports it (`tests/test_architecture.py`).
"""
