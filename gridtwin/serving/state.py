"""The per-meter state a served model keeps in Redis, behind one typed store.

A model never sees the Redis client or the key prefix: the module hands each model's
`prepare` a `MeterState` bound to that model's own namespace (`<prefix><model>:`), whose keys
carry the meter as a hash tag (`<prefix><model>:{meter}:<part>`), so all of one meter's keys
share a Redis Cluster slot. Multi-key work (a batch script, MGET) is split per hash slot on a
Redis Cluster (`gridtwin.core.redis_client.per_slot`) and stays one call for the whole batch
on a single Redis, so single-node speed is unchanged. The asset register (what equipment a
meter has) is read through the same store (`assets`), shared by every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridtwin import assets as asset_register
from gridtwin.core.redis_client import is_cluster, meter_tag, per_slot


class MeterState:
    """One model's per-meter Redis state (its own key namespace) and read access to the asset
    register. Safe to share between batches; scripts are registered once per store."""

    def __init__(self, client: Any, prefix: str, namespace: str) -> None:
        if not namespace:
            raise ValueError("a model's state needs its own namespace")
        self.client = client
        self.prefix = prefix
        self.namespace = f"{prefix}{namespace}:"
        self._scripts: dict[str, Any] = {}

    def key(self, meter_id: str, part: str = "") -> str:
        """`<prefix><model>:{meter}` or `<prefix><model>:{meter}:<part>` (one slot per meter)."""
        base = f"{self.namespace}{meter_tag(meter_id)}"
        return f"{base}:{part}" if part else base

    async def ready(self) -> None:
        """On a cluster, learn the slot map before concurrent commands: a fresh cluster client
        learns it on its first command, and concurrent first commands would race that start-up
        (a no-op once done, and on a single Redis)."""
        if is_cluster(self.client):
            await self.client.initialize()

    async def _per_slot(self, keys: Sequence[str], call: Any) -> None:
        await self.ready()
        await per_slot(self.client, keys, call)

    def pipeline(self) -> Any:
        """A non-transactional pipeline for single-key commands (a cluster client routes each
        command to its slot's node)."""
        return self.client.pipeline(transaction=False)

    async def run_batch_script(
        self, lua: str, keys: Sequence[str], args: Sequence[Sequence[Any]]
    ) -> list[Any]:
        """Run a batch script: KEYS[i] with its row of `args` (every row equally long, flattened
        into ARGV in key order), one reply per key. One call per hash slot on a cluster (keys of
        one meter stay together and in order), one call for all keys on a single Redis.
        Replies come back in the order of `keys`."""
        if len(keys) != len(args):
            raise ValueError(f"{len(keys)} keys but {len(args)} argument rows")
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = self.client.register_script(lua)
        replies: list[Any] = [None] * len(keys)

        async def call(indices: list[int]) -> None:
            out = await script(keys=[keys[i] for i in indices], args=[a for i in indices for a in args[i]])
            if len(out) != len(indices):
                raise ValueError(f"script answered {len(out)} replies for {len(indices)} keys")
            for i, reply in zip(indices, out, strict=True):
                replies[i] = reply

        await self._per_slot(keys, call)
        return replies

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """GET of many string keys: MGET per hash slot (one MGET on a single Redis)."""
        values: list[bytes | None] = [None] * len(keys)

        async def call(indices: list[int]) -> None:
            for i, value in zip(indices, await self.client.mget([keys[i] for i in indices]), strict=True):
                values[i] = value

        await self._per_slot(keys, call)
        return values

    async def assets(self, meter_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, float]]:
        """The asset register's numeric fields per distinct meter (absent fields left out)."""
        await self.ready()
        return await asset_register.read_assets(self.client, self.prefix, meter_ids, fields)
