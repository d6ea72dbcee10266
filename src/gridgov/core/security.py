"""Secrets: password hashing (argon2id) and policy, random tokens, token hashing, constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200

# NOTE: argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4): about 0.15 s
# per hash on a 2-core machine, which bounds online guessing while a login stays quick.
_DEFAULT_HASHER = PasswordHasher()
_hasher: PasswordHasher = _DEFAULT_HASHER


def set_password_hasher(hasher: PasswordHasher | None) -> None:
    """Replaces the password hasher (tests use cheap parameters); None restores the production one."""
    global _hasher
    _hasher = hasher or _DEFAULT_HASHER


def hash_password(password: str) -> str:
    """Returns the argon2id hash of `password` (salted; the parameters are part of the hash)."""
    return _hasher.hash(password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The result of checking a password: does it match, and should the stored hash be replaced?"""

    ok: bool
    new_hash: str | None = None  # set when the hash used outdated parameters and the password matched


def verify_password(password_hash: str | None, password: str) -> PasswordCheck:
    """Checks `password` against `password_hash`; a match on outdated parameters comes with a fresh hash."""
    if not password_hash:
        # NOTE: still spend the time of one verification, so a missing account or a token-only account does not
        # answer faster than a wrong password (no user enumeration by timing).
        _verify_dummy(password)
        return PasswordCheck(ok=False)
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    if _hasher.check_needs_rehash(password_hash):
        return PasswordCheck(ok=True, new_hash=_hasher.hash(password))
    return PasswordCheck(ok=True)


_dummy_hashes: dict[int, str] = {}


def _verify_dummy(password: str) -> None:
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    try:
        _hasher.verify(_dummy_hashes[key], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Returns what is wrong with `password` as a new password (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters long (it has {len(password)})")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"must be at most {MAX_PASSWORD_LENGTH} characters long")
    if password.isdigit():
        problems.append("must not be all digits (a phone or ID number is easy to guess)")
    if password.strip() != password:
        problems.append("must not start or end with a space")
    if username and password.strip().casefold() == username.strip().casefold():
        problems.append("must not be the username")
    return problems


def random_token(nbytes: int = 32) -> str:
    """Returns a URL-safe random string carrying `nbytes` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """Returns the SHA-256 of `value` as 64 hex digits (how session ids are stored)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def token_hash(token: str, key: str) -> str:
    """Returns the keyed hash (HMAC-SHA256 with `key`) under which an API token is stored."""
    # NOTE: tokens carry 256 random bits, so a fast hash cannot be brute-forced and argon2's cost (0.15 s per
    # API call) would buy nothing; keying it with the deployment's secret also makes a stolen database alone
    # useless for checking guesses. Changing the secret key therefore invalidates every API token.
    return hmac.new(key.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def same_secret(given: str | None, expected: str | None) -> bool:
    """Compares two secrets in constant time; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
