"""Redis key naming: every key starts with the deployment's prefix, so deployments and test runs never collide."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)
