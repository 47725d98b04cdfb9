"""Durable history of readings and assessments (SQLAlchemy Core 2: SQLite or PostgreSQL).

`schema` defines the tables, `repository` is the one code path that writes and reads them,
`stream` is the Redis Stream the gateway feeds and the history service consumes, and
`consumer` is that at-least-once consumer (acknowledged only after the database commit).
"""
