"""A verified token is remembered: the same token again skips the signature check, but never past its
expiry (the retired-key case is in test_identity.py: a rotated JWKS refuses a remembered token)."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from govshare.core.errors import Unauthenticated
from govshare.core.settings import Settings
from govshare.server import identity
from govshare.server.identity import Authenticator, mint_demo_token

SECRET = "verified-token-cache-secret-0123456789"


async def test_the_same_token_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = Authenticator(Settings(demo_jwt_secret=SECRET))
    calls = []
    original = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(identity.jwt, "decode", counting)
    token = mint_demo_token(SECRET, "650100-MZ")
    for _ in range(3):
        assert (await auth.authenticate(f"Bearer {token}")).department == "650100-MZ"
    assert len(calls) == 1
    other = mint_demo_token(SECRET, "650100-GA")
    assert (await auth.authenticate(f"Bearer {other}")).department == "650100-GA"
    assert len(calls) == 2
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthenticated):
        await auth.authenticate(f"Bearer {tampered}")


async def test_a_remembered_token_expires_with_its_exp() -> None:
    auth = Authenticator(Settings(demo_jwt_secret=SECRET))
    token = mint_demo_token(SECRET, "650100-MZ", ttl_seconds=2)
    await auth.authenticate(f"Bearer {token}")
    expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
    await asyncio.sleep(max(0.0, expiry - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="expired"):
        await auth.authenticate(f"Bearer {token}")


async def test_remembered_tokens_are_rechecked_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = Authenticator(Settings(demo_jwt_secret=SECRET))
    token = mint_demo_token(SECRET, "650100-MZ")
    await auth.authenticate(f"Bearer {token}")
    calls = []
    original = jwt.decode
    monkeypatch.setattr(identity.jwt, "decode",
                        lambda *a, **k: calls.append(1) or original(*a, **k))  # type: ignore[func-returns-value]
    now = time.time()
    monkeypatch.setattr(identity.time, "time", lambda: now + identity.VERIFIED_TTL_SECONDS + 1)
    await auth.authenticate(f"Bearer {token}")
    assert calls == [1]
