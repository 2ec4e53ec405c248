"""The Runtime Service's settings: from the environment, with the service's names and defaults.

``PORT`` (5006), ``MAX_CONCURRENT_EXECUTIONS`` (100), ``DEFAULT_EXECUTION_TIMEOUT`` (300000
ms), ``MAX_BACKPRESSURE_QUEUE`` (10000), ``ENABLE_METRICS`` (true) and ``ISOLATE_POOL_SIZE``
(10, read for code components), plus ``HOST`` (127.0.0.1) and ``MAX_BODY_BYTES`` (1 MiB).
``arachne serve`` options override them.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerSettings"]


class ServerSettings(BaseSettings):
    """How ``arachne serve`` listens, and the limits it puts on graphs and executions."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=5006, ge=0, le=65535)
    max_concurrent_executions: int = Field(default=100, ge=1)
    default_execution_timeout: int = Field(default=300_000, ge=1, description="milliseconds")
    max_backpressure_queue: int = Field(default=10_000, ge=1)
    enable_metrics: bool = True
    isolate_pool_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        # Authentication is not built yet: nothing may reach the service from elsewhere.
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"host {host!r} is not a loopback address; the service has no authentication "
                "yet, so it listens on 127.0.0.1 (or ::1, localhost) only"
            )
        return host

    @property
    def execution_timeout_seconds(self) -> float:
        """``default_execution_timeout`` in seconds."""
        return self.default_execution_timeout / 1000
