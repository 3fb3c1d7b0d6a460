"""Who is calling: bearer JWTs verified with PyJWT against configured keys."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import jwt

from core.callers import Caller
from core.errors import ConfigurationError, Unauthenticated
from core.settings import Settings

ASYMMETRIC = ["RS256", "ES256", "EdDSA"]
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._public_keys: list[str] = []
        for path in settings.jwt_public_key_files:
            try:
                self._public_keys.append(path.read_text())
            except OSError as exc:
                raise ConfigurationError(f"cannot read JWT public key {path}") from exc
        if settings.demo_jwt_secret is not None and len(settings.demo_jwt_secret.encode()) < 32:
            raise ConfigurationError("GOVSHARE_DEMO_JWT_SECRET must be at least 32 bytes (RFC 7518 3.2)")
        if not self._public_keys and settings.demo_jwt_secret is None:
            raise ConfigurationError("no JWT verification key: set GOVSHARE_JWT_PUBLIC_KEYS "
                                     "(or GOVSHARE_DEMO_JWT_SECRET for the demo)")

    def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <JWT>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <JWT>'")
        claims = self._verify(token.strip())
        department = claims.get("dept")
        if not isinstance(department, str) or not department:
            raise Unauthenticated("the token names no department (claim 'dept')")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated("claim 'roles' must be a list of strings")
        return Caller(str(claims["sub"]), department, frozenset(roles), department[:6])

    def _verify(self, token: str) -> dict[str, object]:
        options = {"require": REQUIRED_CLAIMS}
        attempts: list[tuple[str, list[str]]] = [(key, ASYMMETRIC) for key in self._public_keys]
        if self._settings.demo_jwt_secret is not None:
            attempts.append((self._settings.demo_jwt_secret, ["HS256"]))
        for key, algorithms in attempts:
            try:
                return jwt.decode(token, key, algorithms=algorithms, options=options,  # type: ignore[arg-type]
                                  audience=self._settings.jwt_audience, issuer=self._settings.jwt_issuer)
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError as exc:
                raise Unauthenticated("the token has expired") from exc
            except jwt.InvalidAlgorithmError:
                continue
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"invalid token: {exc}") from exc
        raise Unauthenticated("invalid token: signature not verified by any configured key")


def mint_demo_token(secret: str, department: str, *, user: str | None = None,
                    roles: list[str] | None = None, ttl_seconds: int = 8 * 3600,
                    issuer: str = "govshare", audience: str = "govshare") -> str:
    now = int(time.time())
    claims = {"sub": user or f"demo-user@{department}", "dept": department, "roles": roles or ["developer"],
              "iat": now, "exp": now + ttl_seconds, "iss": issuer, "aud": audience}
    return jwt.encode(claims, secret, algorithm="HS256")


def demo_secret(data_dir: Path) -> str:
    """The demo signing secret, created once per data directory so tokens survive restarts."""
    path = data_dir / "demo-jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
