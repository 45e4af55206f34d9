"""The process harness: embedded PostgreSQL and Redis, the stack of real processes (web,
worker, Meta simulator, Hub sink) and restartable servers for the fault suite. Used by the
tests, the benchmark and the dev runner; nothing of the product imports it.
"""
