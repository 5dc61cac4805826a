"""Redis key naming: every key starts with the deployment's prefix, so deployments and test runs never collide."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def grouped(self, group: str, *parts: str) -> str:
        """A key of `group`, whose keys share a hash tag (`{PREFIXgroup}:...`): a Redis Cluster keeps them in one slot,
        so one script, transaction or pipeline may touch several, and a node lost loses all of them or none. Keys
        used one at a time need no tag, and spread over the cluster's nodes."""
        return "{" + self.prefix + group + "}:" + ":".join(parts)
