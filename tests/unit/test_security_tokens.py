"""Bearer tokens: what verifies, what does not, and why (the reason reaches the caller)."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gridtwin.core.config import reset_settings
from gridtwin.security.roles import Principal, Role
from gridtwin.security.tokens import (
    KeyConfigError,
    Keys,
    TokenError,
    create_token,
    parse_meters,
    parse_ttl,
    verify_token,
)

SECRET = "s" * 40
HS = Keys("HS256", SECRET, SECRET)


def test_round_trip_keeps_subject_role_and_scope():
    token = create_token(Role.OPERATOR, "ana", HS, 60, ("feeder-7-*", "sub-2"))
    principal = verify_token(token, HS)
    assert (principal.subject, principal.role, principal.meters) == (
        "ana",
        Role.OPERATOR,
        ("feeder-7-*", "sub-2"),
    )
    assert principal.token == token


def test_expired_token_is_refused():
    token = create_token(Role.ADMIN, "ana", HS, 60, now=time.time() - 3600)
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, HS)


def test_token_signed_with_another_secret_is_refused():
    other = Keys("HS256", "o" * 40, "o" * 40)
    with pytest.raises(TokenError, match="signature"):
        verify_token(create_token(Role.ADMIN, "mallory", other, 60), HS)


def test_raising_ones_own_role_breaks_the_signature():
    header, payload, signature = create_token(Role.VIEWER, "eve", HS, 60).split(".")
    claims = jwt.decode(
        create_token(Role.VIEWER, "eve", HS, 60), SECRET, algorithms=["HS256"], audience="gridtwin"
    )
    claims["role"] = "admin"
    forged_payload = jwt.encode(claims, "whatever-key-" + "z" * 30, algorithm="HS256").split(".")[1]
    with pytest.raises(TokenError, match="signature"):
        verify_token(f"{header}.{forged_payload}.{signature}", HS)


def test_unsigned_token_is_refused():
    claims = {
        "sub": "eve",
        "role": "admin",
        "iss": "gridtwin",
        "aud": "gridtwin",
        "exp": int(time.time()) + 60,
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(TokenError):
        verify_token(unsigned, HS)


def test_unknown_role_and_missing_expiry_are_refused():
    base = {"sub": "x", "iss": "gridtwin", "aud": "gridtwin", "exp": int(time.time()) + 60}
    with pytest.raises(TokenError, match="not one of viewer, analyst, operator, admin"):
        verify_token(jwt.encode({**base, "role": "root"}, SECRET, algorithm="HS256"), HS)
    no_exp = {k: v for k, v in base.items() if k != "exp"}
    with pytest.raises(TokenError, match="exp"):
        verify_token(jwt.encode({**no_exp, "role": "admin"}, SECRET, algorithm="HS256"), HS)


def test_rs256_signs_with_the_private_key_and_verifies_with_the_public_one(tmp_path, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "jwt.key"
    public = tmp_path / "jwt.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.delenv("GRIDTWIN_JWT_SECRET", raising=False)
    monkeypatch.setenv("GRIDTWIN_JWT_PRIVATE_KEY", str(private))
    reset_settings()  # settings are read once per process
    token = create_token(Role.ANALYST, "ana", Keys.from_env(), 60)
    monkeypatch.delenv("GRIDTWIN_JWT_PRIVATE_KEY")
    monkeypatch.setenv("GRIDTWIN_JWT_PUBLIC_KEY", str(public))
    reset_settings()
    verifier = Keys.from_env()
    assert verifier.algorithm == "RS256" and verifier.signing_key is None
    assert verify_token(token, verifier).role == Role.ANALYST
    # An HS256 token made with the public key as the secret (algorithm confusion) is refused.
    confused = jwt.encode(
        {"sub": "eve", "role": "admin", "iss": "gridtwin", "aud": "gridtwin", "exp": int(time.time()) + 60},
        "p" * 40,
        algorithm="HS256",
    )
    with pytest.raises(TokenError):
        verify_token(confused, verifier)


def test_key_configuration_errors_are_explicit(monkeypatch):
    for var in ("GRIDTWIN_JWT_SECRET", "GRIDTWIN_JWT_PRIVATE_KEY", "GRIDTWIN_JWT_PUBLIC_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(KeyConfigError, match="GRIDTWIN_JWT_SECRET"):
        Keys.from_env()
    monkeypatch.setenv("GRIDTWIN_JWT_SECRET", "short")
    reset_settings()
    with pytest.raises(KeyConfigError, match="at least 32"):
        Keys.from_env()


def test_ttl_and_meter_arguments():
    assert [parse_ttl(t) for t in ("90", "30m", "8h", "7d")] == [90, 1800, 28800, 604800]
    for bad in ("", "8x", "-1h", "0"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
    assert parse_meters(["a-*,b-1", "c-?", "a-*"]) == ("a-*", "b-1", "c-?")


def test_meter_scope_globs():
    scoped = Principal("ana", Role.VIEWER, ("feeder-7-*", "sub-[12]"))
    assert scoped.may_see("feeder-7-a") and scoped.may_see("sub-2")
    assert not scoped.may_see("feeder-70") and not scoped.may_see("sub-3")
    assert scoped.outside_scope(["feeder-7-a", "x", "y", "x"]) == ["x", "y"]
    assert Principal("root", Role.ADMIN).may_see("anything")
