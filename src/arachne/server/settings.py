"""The Runtime Service's settings: from the environment, with the service's names and defaults.

``PORT`` (5006), ``MAX_CONCURRENT_EXECUTIONS`` (100), ``DEFAULT_EXECUTION_TIMEOUT`` (300000
ms), ``MAX_BACKPRESSURE_QUEUE`` (10000), ``ENABLE_METRICS`` (true) and ``ISOLATE_POOL_SIZE``
(10, read for code components); then ``ARACHNE_HOST`` (127.0.0.1: not ``HOST``, which tcsh
sets to the machine's name), ``MAX_BODY_BYTES`` (1 MiB),
``MAX_GRAPHS`` (1000), ``MAX_ENDED_EXECUTIONS`` (1000: past it the oldest ended executions
are forgotten), ``MAX_INJECT_BYTES`` (256 KiB: the longest injected value, as JSON),
``MAX_EVENTS_PER_SECOND`` (200 per-message events to one client a second),
``ALLOWED_ORIGINS`` (browser origins besides loopback pages that may open event sockets),
``DATA_ROOT`` (the directory graphs loaded over the API may read and write files in; unset,
they get none), ``ARACHNE_STORE`` (a SQLite file keeping graphs, execution records and
checkpoints; unset, nothing outlives the process), ``CHECKPOINT_EVERY`` (1 second),
``ARACHNE_ALLOW_CODE`` (false: code components refused), ``ARACHNE_CODE_CEILINGS`` (a JSON
object of the most a code component may ask for), and
the credentials: ``API_KEYS`` (``KEY=ROLE,...``), ``JWT_SECRET``
(HS256), ``JWT_PUBLIC_KEY`` (RS256, PEM), ``JWT_AUDIENCE``, ``JWT_ISSUER``. With no
credentials set, authentication is off and the service listens on a loopback address only.
``arachne serve`` options override them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from arachne.components.code.host import CEILINGS_VARIABLE, ceilings_from_environment
from arachne.components.files import DataRoot
from arachne.server.auth import ROLES, Role

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
    max_graphs: int = Field(default=1000, ge=1)
    max_ended_executions: int = Field(default=1000, ge=1)
    max_inject_bytes: int = Field(
        default=256 << 10, ge=16, description="the longest injected value, as JSON bytes"
    )
    max_events_per_second: int = Field(
        default=200, ge=1, description="per-message events sent to one client each second"
    )
    data_root: str | None = Field(
        default=None,
        description="the directory file components of graphs loaded over the API read and "
        "write in (none: such graphs get no files)",
    )
    store: str | None = Field(
        default=None,
        description="a SQLite file keeping graphs, execution records and checkpoints: a "
        "service started again on it resumes the executions that were running "
        "(ARACHNE_STORE)",
    )
    allow_code: bool = Field(
        default=False,
        description="take code components (POST /api/components, a document's components): "
        "their JavaScript or WebAssembly runs in confined worker processes (ARACHNE_ALLOW_CODE)",
    )
    code_ceilings: str | None = Field(
        default=None,
        description="a JSON object of the most a code component may ask for, names as in "
        'execution.limits, e.g. {"timeMs": 1000} (ARACHNE_CODE_CEILINGS)',
    )
    checkpoint_every: float = Field(
        default=1.0, gt=0, description="seconds between an execution's checkpoints, with a store"
    )
    allowed_origins: str = Field(
        default="",
        description="browser origins, comma-separated, that may open event sockets besides "
        "loopback pages (e.g. https://dash.example.com)",
    )

    api_keys: SecretStr | None = Field(
        default=None, description="KEY=ROLE pairs, comma-separated (roles: viewer, operator, admin)"
    )
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 key for JWTs")
    jwt_public_key: str | None = Field(default=None, description="RS256 public key (PEM)")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the environment with ``ARACHNE_HOST`` for the address, never ``HOST``."""
        return (
            init_settings,
            _HostFromOwnName(settings_cls, env_settings),
            dotenv_settings,
            file_secret_settings,
        )

    @field_validator("code_ceilings")
    @classmethod
    def _ceilings_well_formed(cls, text: str | None) -> str | None:
        if text:
            ceilings_from_environment({CEILINGS_VARIABLE: text})  # a ValueError names the fix
        return text

    @field_validator("api_keys")
    @classmethod
    def _keys_well_formed(cls, keys: SecretStr | None) -> SecretStr | None:
        if keys is not None:
            _parse_keys(keys.get_secret_value())
        return keys

    @field_validator("data_root")
    @classmethod
    def _root_is_a_directory(cls, root: str | None) -> str | None:
        if root is not None:
            DataRoot(root)  # ValueError naming the directory if it is not one
        return root

    @model_validator(mode="after")
    def _store_outside_data_root(self) -> ServerSettings:
        # Graphs loaded over the API may write files in the data root: one could overwrite the
        # store, which holds their definitions (secret values included).
        if self.store and self.data_root:
            path, root = Path(self.store).resolve(), Path(self.data_root).resolve()
            if path == root or root in path.parents:
                raise ValueError(
                    f"store {str(path)!r} lies inside the data root ({str(root)!r}), where "
                    "graphs loaded over the API may write files; keep it outside"
                )
        return self

    @model_validator(mode="after")
    def _loopback_unless_authenticated(self) -> ServerSettings:
        host = self.host
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        authenticated = bool(self.api_keys or self.jwt_secret or self.jwt_public_key)
        if not loopback and not authenticated:
            raise ValueError(
                f"host {host!r} is not a loopback address and authentication is off; set "
                "API_KEYS, JWT_SECRET or JWT_PUBLIC_KEY before listening beyond 127.0.0.1"
            )
        return self

    def origins(self) -> tuple[str, ...]:
        """Return ``allowed_origins`` as a tuple of origins."""
        return tuple(
            part.strip().rstrip("/") for part in self.allowed_origins.split(",") if part.strip()
        )

    def api_key_roles(self) -> dict[str, Role]:
        """Return the configured API keys and the role of each."""
        return _parse_keys(self.api_keys.get_secret_value()) if self.api_keys else {}

    @property
    def execution_timeout_seconds(self) -> float:
        """``default_execution_timeout`` in seconds."""
        return self.default_execution_timeout / 1000


class _HostFromOwnName(PydanticBaseSettingsSource):
    """The environment, its ``HOST`` left out: the address comes from ``ARACHNE_HOST``.

    tcsh exports ``HOST`` as the machine's name, which would make the service try to listen
    on a public address (and refuse to start, authentication being off).
    """

    def __init__(self, settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Not used: :meth:`__call__` reads every field at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        own = ("host", "store", "allow_code", "code_ceilings")
        found = {key: value for key, value in self.env().items() if key not in own}
        host = os.environ.get("ARACHNE_HOST")
        if host is not None:
            found["host"] = host
        for field in own[1:]:  # unset or empty: the default
            value = os.environ.get(f"ARACHNE_{field.upper()}")
            if value:
                found[field] = value
        return found


def _parse_keys(text: str) -> dict[str, Role]:
    """Return ``KEY=ROLE,KEY=ROLE`` as a mapping; ``ValueError`` naming the bad pair."""
    keys: dict[str, Role] = {}
    for index, pair in enumerate(part.strip() for part in text.split(",")):
        if not pair:
            continue
        key, sep, role = pair.rpartition("=")
        if not sep or len(key) < 16 or role not in ROLES:
            raise ValueError(
                f"api_keys pair {index + 1} must be KEY=ROLE, the key at least 16 characters "
                "and the role viewer, operator or admin"
            )
        keys[key] = role
    return keys
