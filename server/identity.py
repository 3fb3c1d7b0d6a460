"""Who is calling: bearer JWTs verified with PyJWT against configured keys (server/keys.py).

Only keys of the token's own algorithm are tried; the key id (``kid``) narrows them when the keys
have ids. Messages are ours: no PyJWT or cryptography text reaches a client.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from govshare.core.callers import Caller
from govshare.core.errors import ConfigurationError, Unauthenticated
from govshare.core.settings import Settings

from .keys import KeySet

ASYMMETRIC = ("RS256", "ES256", "EdDSA")
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
# What a client is told, per PyJWT error: our words only (no library object text reaches a client).
REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is meant for another audience"),
    (jwt.InvalidIssuerError, "the token's issuer is not accepted"),
    (jwt.InvalidIssuedAtError, "the token's issue time is invalid"),
)
INVALID = "invalid token"
# Verified tokens are remembered (by their full text, signature included) for at most this long and
# never past their expiry, and only while the key that verified them is still configured for them:
# a client sends the same token with every request, and the signature check is the same work each time.
VERIFIED_TTL_SECONDS = 30.0
VERIFIED_MAX = 4096


class Authenticator:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        # token -> (claims, remembered until, algorithm, key id, the key that verified it)
        self._verified: dict[str, tuple[dict[str, object], float, str, str | None, Any]] = {}
        self._keys = KeySet(settings.jwt_public_key_files, settings.jwks_sources, settings.jwks_refresh_seconds,
                            clock)
        if settings.demo_jwt_secret is not None and len(settings.demo_jwt_secret.encode()) < 32:
            raise ConfigurationError("GOVSHARE_DEMO_JWT_SECRET must be at least 32 bytes (RFC 7518 3.2)")
        if not self._keys.configured and settings.demo_jwt_secret is None:
            raise ConfigurationError("no JWT verification key: set GOVSHARE_JWT_PUBLIC_KEYS or GOVSHARE_JWKS "
                                     "(or GOVSHARE_DEMO_JWT_SECRET for the demo)")

    async def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <JWT>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <JWT>'")
        claims = await self._verify(token.strip())
        department = claims.get("dept")
        if not isinstance(department, str) or not department:
            raise Unauthenticated("the token names no department (claim 'dept')")
        # A `roles` claim is not read: roles come from the role assignments (see core/callers.py).
        return Caller(str(claims["sub"]), department, department[:6])

    async def _verify(self, token: str) -> dict[str, object]:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, until, algorithm, kid, key = remembered
            if time.time() < until and await self._still_configured(algorithm, kid, key):
                return claims
            del self._verified[token]
        claims, algorithm, kid, key = await self._verify_signature(token)
        expiry = claims.get("exp")
        if isinstance(expiry, int | float):
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = (claims, min(float(expiry), time.time() + VERIFIED_TTL_SECONDS), algorithm,
                                     kid, key)
        return claims

    async def _still_configured(self, algorithm: str, kid: str | None, key: Any) -> bool:
        """The key that verified a remembered token is still one the configuration offers for it."""
        if algorithm == "HS256":
            return key is self._settings.demo_jwt_secret
        found = await self._keys.candidates(algorithm, kid)
        return found is not None and any(k.key is key for k in found)

    async def _verify_signature(self, token: str) -> tuple[dict[str, object], str, str | None, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"{INVALID}: not a JWT") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated(f"{INVALID}: malformed key id")
        secret = self._settings.demo_jwt_secret
        keys: list[Any]
        if algorithm == "HS256" and secret is not None:
            keys = [secret]
        elif algorithm in ASYMMETRIC:
            found = await self._keys.candidates(algorithm, kid)
            if found is None:
                raise Unauthenticated(f"{INVALID}: unknown key id")
            keys = [k.key for k in found]
        else:
            raise Unauthenticated(f"{INVALID}: algorithm not accepted")
        for key in keys:  # only keys of the token's type: another type is skipped, never fatal
            try:
                claims = jwt.decode(token, key, algorithms=[algorithm], options={"require": REQUIRED_CLAIMS},
                                    audience=self._settings.jwt_audience, issuer=self._settings.jwt_issuer)
                return claims, algorithm, kid, key
            except jwt.InvalidSignatureError:
                continue
            except jwt.MissingRequiredClaimError as exc:
                raise Unauthenticated(_lacking(token, str(exc.claim))) from exc
            except jwt.PyJWTError as exc:
                reason = next((text for kind, text in REASONS if isinstance(exc, kind)), INVALID)
                raise Unauthenticated(reason) from exc
        raise Unauthenticated(f"{INVALID}: signature not verified by any configured key")


def mint_demo_token(secret: str, department: str, *, user: str | None = None,
                    ttl_seconds: int = 8 * 3600,
                    issuer: str = "govshare", audience: str = "govshare") -> str:
    now = int(time.time())
    claims = {"sub": user or f"demo-user@{department}", "dept": department,
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


def _lacking(token: str, first: str) -> str:
    """Which required claims a token lacks, all of them (PyJWT names only the first it meets). Its signature
    was verified before its claims were checked, so this payload is the signed one; the names said are ours."""
    payload = jwt.decode(token, options={"verify_signature": False})
    missing = [claim for claim in REQUIRED_CLAIMS if payload.get(claim) is None] or [first]  # as PyJWT judges
    return (f"the token lacks the required claim{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_CLAIMS)})")
