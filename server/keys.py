"""The public keys that verify tokens: PEM files and JWKS (files or operator-configured URLs).

A JWKS is re-read when its refresh interval has passed, when a file's modification time changes,
and when a token names a key id that no key has (at most once per ``MIN_REFETCH_SECONDS``, so random
key ids cannot make us hammer the identity provider): keys rotate without a restart. A URL is only
ever one the operator configured; nothing in a token (``jku``, ``x5u``) is fetched.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from govshare.core.errors import ConfigurationError

logger = logging.getLogger("govshare.keys")

MIN_REFETCH_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 5.0
MAX_JWKS_BYTES = 1024 * 1024


def fits(key: Any, algorithm: str) -> bool:
    """Whether a public key can verify a signature of ``algorithm`` (a mismatch is skipped, not fatal)."""
    if algorithm == "RS256":
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


@dataclass(frozen=True)
class PublicKey:
    key: Any  # a cryptography public key object
    kid: str | None = None
    algorithm: str | None = None  # a JWK's "alg": the only algorithm it may verify

    def verifies(self, algorithm: str) -> bool:
        return (self.algorithm is None or self.algorithm == algorithm) and fits(self.key, algorithm)


def pem_key(path: Path) -> PublicKey:
    try:
        return PublicKey(load_pem_public_key(path.read_bytes()))
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot read JWT public key {path} (a PEM public key)") from exc


def jwks_keys(document: bytes, source: str) -> list[PublicKey]:
    """The signature keys of a JWKS; keys of unsupported types are skipped (as PyJWKSet does)."""
    try:
        data = json.loads(document)
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not JSON") from exc
    entries = data.get("keys") if isinstance(data, dict) else None
    keys: list[PublicKey] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        keys.append(PublicKey(jwk.key, kid if isinstance(kid, str) else None, alg if isinstance(alg, str) else None))
    if not keys:
        raise ConfigurationError(f"{source} is not a JSON Web Key Set with a usable signature key")
    return keys


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # the operator's URL only
        return bytes(response.read(MAX_JWKS_BYTES + 1))


def _read_file(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


class JwksSource:
    """One JWKS file or URL, cached."""

    def __init__(self, location: str, refresh_seconds: float, clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str], bytes] = _fetch) -> None:
        self.location = location
        self.is_url = location.startswith(("https://", "http://"))
        self._refresh = refresh_seconds
        self._clock = clock
        self._fetch = fetch
        self.keys: list[PublicKey] = []
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._mtime: int | None = None
        self._lock = asyncio.Lock()

    def due(self) -> bool:
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._refresh:
            return True
        if not self.is_url:
            try:
                return Path(self.location).stat().st_mtime_ns != self._mtime
            except OSError:
                return True
        return False

    async def load(self, *, force: bool = False) -> None:
        """Re-read when due (or forced, at most once per MIN_REFETCH_SECONDS); keep the old keys on failure."""
        async with self._lock:
            now = self._clock()
            recent = self._attempted_at is not None and now - self._attempted_at < MIN_REFETCH_SECONDS
            if self.is_url and (recent or not (force or self.due())):
                return
            if not self.is_url and not self.due() and (recent or not force):
                return
            self._attempted_at = now
            try:
                if self.is_url:
                    document = await asyncio.to_thread(self._fetch, self.location)
                else:
                    self._mtime, document = await asyncio.to_thread(_read_file, Path(self.location))
                if len(document) > MAX_JWKS_BYTES:
                    raise ConfigurationError(f"{self.location} is larger than {MAX_JWKS_BYTES} bytes")
                self.keys = jwks_keys(document, self.location)
                self._loaded_at = now
            except (OSError, ValueError, http.client.HTTPException, ConfigurationError) as exc:
                # Fail closed for new keys only: tokens of keys already known keep working meanwhile.
                logger.warning("JWKS %s not loaded (%s); keeping %d known keys", self.location,
                               type(exc).__name__, len(self.keys))


class KeySet:
    def __init__(self, pem_files: Sequence[Path], jwks: Sequence[str], refresh_seconds: float,
                 clock: Callable[[], float] = time.monotonic, fetch: Callable[[str], bytes] = _fetch) -> None:
        self._static = [pem_key(path) for path in pem_files]
        self._sources = [JwksSource(location, refresh_seconds, clock, fetch) for location in jwks]
        for source in self._sources:
            if not source.is_url:  # a file is checked at start; a URL is fetched on first use
                try:
                    source.keys = jwks_keys(Path(source.location).read_bytes(), source.location)
                except OSError as exc:
                    raise ConfigurationError(f"GOVSHARE_JWKS: cannot read {source.location} (a file or an "
                                             "http(s) URL)") from exc

    @property
    def configured(self) -> bool:
        return bool(self._static or self._sources)

    def keys(self) -> list[PublicKey]:
        return [*self._static, *(k for source in self._sources for k in source.keys)]

    async def candidates(self, algorithm: str, kid: str | None) -> list[PublicKey] | None:
        """Keys that may have signed a token; None when the token's key id is unknown."""
        await asyncio.gather(*(s.load() for s in self._sources if s.due()))
        found = self._select(algorithm, kid)
        if found is None:
            await asyncio.gather(*(s.load(force=True) for s in self._sources))
            found = self._select(algorithm, kid)
        return found

    def _select(self, algorithm: str, kid: str | None) -> list[PublicKey] | None:
        keys = [k for k in self.keys() if k.verifies(algorithm)]
        if kid is None:
            return keys
        named = [k for k in keys if k.kid == kid]
        if named:
            return named
        unnamed = [k for k in keys if k.kid is None]
        return unnamed or None
