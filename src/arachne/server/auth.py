"""Who may do what: API keys and JWTs, mapped to the roles viewer, operator and admin.

A request proves who it is with ``Authorization: Bearer <JWT>`` or ``X-API-Key: <key>``
(a WebSocket handshake may also pass ``?token=<JWT or key>``, as browsers cannot set headers
there). JWTs are checked with PyJWT: HS256 with the configured secret or RS256 with the
configured public key, their expiry always, their audience (and issuer) when configured; the
role comes from the ``role`` claim, or the highest of ``roles``. Roles are ordered: a viewer
reads and subscribes, an operator also runs, feeds, controls and changes executions, an admin
also loads and deletes graphs. With no key and no JWT key configured, authentication is off
and every caller is an admin, which the settings allow on a loopback address only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import jwt

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ROLES", "Denied", "Gatekeeper", "Role"]

Role: TypeAlias = Literal["viewer", "operator", "admin"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "operator", "admin")
"""The roles, each allowed what the ones before it are."""


class Denied(Exception):
    """A caller not let in: ``status`` 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from: a name for logs (never the secret) and a role."""

    name: str
    role: Role


class Gatekeeper:
    """Checks the credentials of requests against the settings' keys."""

    def __init__(
        self,
        keys: Mapping[str, Role],
        *,
        secret: str | None = None,
        public_key: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        self.keys = dict(keys)
        self.secret = secret
        self.public_key = public_key
        self.audience = audience
        self.issuer = issuer

    @property
    def on(self) -> bool:
        """Whether any credential is configured (else every caller is an admin)."""
        return bool(self.keys) or self.secret is not None or self.public_key is not None

    def caller(self, headers: Mapping[str, str], token: str | None = None) -> Caller:
        """Return who sent ``headers`` (or ``token``); ``Denied`` (401) if nobody we know."""
        if not self.on:
            return Caller("anyone (authentication off)", "admin")
        key = headers.get("x-api-key")
        bearer = headers.get("authorization", "")
        if key is None and bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
        elif key is not None:
            token = key
        if not token:
            raise Denied(
                401,
                "unauthenticated",
                "no credentials: send Authorization: Bearer <token> or X-API-Key: <key> (an "
                "event socket may give ?token=<key or JWT>, a Socket.IO client auth: {token})",
            )
        for known, role in self.keys.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return Caller(f"api key {known[:4]}…", role)
        if self.secret is None and self.public_key is None:
            raise Denied(401, "unauthenticated", "the API key is not known")
        return self._from_jwt(token)

    def _from_jwt(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Denied(
                401, "unauthenticated", "the credentials are neither a known API key nor a JWT"
            ) from None
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.secret is not None:
            key: str = self.secret
        elif algorithm == "RS256" and self.public_key is not None:
            key = self.public_key
        else:
            raise Denied(401, "unauthenticated", f"JWTs signed with {algorithm!r} are not accepted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Denied(401, "token_expired", "the JWT has expired; get a new one") from None
        except jwt.InvalidAudienceError:
            raise Denied(
                401, "unauthenticated", "the JWT is not meant for this service (aud)"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise Denied(401, "unauthenticated", f"the JWT is not valid: {exc}") from None
        role = _role_of(claims)
        if role is None:
            raise Denied(
                403,
                "forbidden",
                "the JWT grants no role: add a 'role' claim (viewer, operator or admin)",
            )
        subject = claims.get("sub")
        return Caller(f"jwt {subject}" if isinstance(subject, str) else "jwt", role)

    @staticmethod
    def allow(caller: Caller, needed: Role) -> None:
        """Raise ``Denied`` (403) unless ``caller``'s role is ``needed`` or above."""
        if ROLES.index(caller.role) < ROLES.index(needed):
            raise Denied(
                403,
                "forbidden",
                f"this needs the {needed} role; the caller is "
                f"{_article(caller.role)} {caller.role}",
            )


def _role_of(claims: Mapping[str, object]) -> Role | None:
    found: list[object] = []
    role = claims.get("role")
    if role is not None:
        found.append(role)
    roles = claims.get("roles")
    if isinstance(roles, list):
        found.extend(roles)
    known = [r for r in ROLES if r in found]
    return known[-1] if known else None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
