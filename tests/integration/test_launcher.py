"""`make run`'s Redis choice: the server at REDIS_URL if it answers, else a private one."""

from __future__ import annotations

import redis

from gridtwin.launcher import ensure_redis


def test_uses_the_server_that_answers(redis_url):
    url, started = ensure_redis(redis_url)
    assert url == redis_url and started is None


def test_starts_a_private_redis_server_when_nothing_answers():
    url, started = ensure_redis("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert started is not None and url != "redis://127.0.0.1:1/0"
        assert redis.Redis.from_url(url).ping()
    finally:
        started.stop()
