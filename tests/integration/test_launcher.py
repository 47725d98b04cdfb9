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


def test_auth_on_without_a_secret_keeps_a_private_local_one(tmp_path):
    import stat

    from gridtwin.launcher import local_secret

    path = tmp_path / "var" / "jwt-secret"
    first = local_secret(path)
    assert len(first) >= 32 and local_secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
