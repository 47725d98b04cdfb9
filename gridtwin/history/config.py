"""History settings from the environment (names documented in the README)."""

from __future__ import annotations

from pathlib import Path

from gridtwin.core.config import settings

ROOT = Path(__file__).resolve().parent.parent.parent
#: Embedded default: a SQLite file under var/ (git-ignored), so `make run` needs no database server.
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'history.sqlite3'}"


def database_url() -> str:
    """`DATABASE_URL` (postgresql+psycopg://… or sqlite:///…), else the embedded SQLite file."""
    return settings().database_url or DEFAULT_DATABASE_URL


def retention_days() -> int:
    """`HISTORY_RETENTION_DAYS` (default 90): rows older than this are removed; 0 keeps everything."""
    return settings().history_retention_days


def stream_maxlen() -> int:
    """`HISTORY_STREAM_MAXLEN` (default 100 000): approximate cap of the assessment stream.

    The cap bounds Redis memory (an entry is a reading plus an assessment, about 2–4 kB) and is
    also how long the history service may be down without losing entries: at 12 readings/s the
    default covers about 2 h 20 min. Entries trimmed before the consumer group read them are
    not in the database.
    """
    return settings().history_stream_maxlen


def safe_url(url: str) -> str:
    """The URL without its password (for logs and the launcher)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
