"""Tokens: asymmetric keys in production, the symmetric demo key only when enabled."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.errors import ConfigurationError, Unauthenticated
from core.settings import Settings
from server.identity import Authenticator, mint_demo_token

from ..helpers import SECRET


def _claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "alice", "dept": "650100-GA", "roles": ["developer"], "iat": now, "exp": now + 60,
            "iss": "govshare", "aud": "govshare", **extra}


@pytest.fixture
def es256(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "issuer.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, public


def test_asymmetric_tokens_are_verified_with_the_public_key(es256: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key, public = es256
    auth = Authenticator(Settings(jwt_public_key_files=(public,)))
    caller = auth.authenticate("Bearer " + jwt.encode(_claims(), key, algorithm="ES256"))
    assert (caller.user, caller.department, caller.roles, caller.node) == (
        "alice", "650100-GA", frozenset({"developer"}), "650100")
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthenticated):
        auth.authenticate("Bearer " + jwt.encode(_claims(), other, algorithm="ES256"))


def test_demo_tokens_are_refused_unless_the_demo_key_is_enabled(es256: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    _, public = es256
    production = Authenticator(Settings(jwt_public_key_files=(public,)))
    with pytest.raises(Unauthenticated):
        production.authenticate("Bearer " + mint_demo_token(SECRET, "650100-GA"))
    demo = Authenticator(Settings(demo_jwt_secret=SECRET))
    assert demo.authenticate("Bearer " + mint_demo_token(SECRET, "650100-GA")).department == "650100-GA"


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="no JWT verification key"):
        Authenticator(Settings())
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        Authenticator(Settings(demo_jwt_secret="short"))
