"""Password hashing and policy, tokens and constant-time comparison (no database)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from gridgov.core import security


def test_password_hash_is_salted_argon2id_and_verifies():
    first, second = security.hash_password("correct-horse-1"), security.hash_password("correct-horse-1")
    assert first.startswith("$argon2id$") and first != second
    assert security.verify_password(first, "correct-horse-1").ok
    assert not security.verify_password(first, "correct-horse-2").ok
    assert not security.verify_password("not a hash", "correct-horse-1").ok
    assert not security.verify_password(None, "correct-horse-1").ok


def test_production_hasher_uses_rfc_9106_low_memory_parameters():
    security.set_password_hasher(None)
    stored = security.hash_password("correct-horse-1")
    assert "$m=65536,t=3,p=4$" in stored


def test_an_outdated_hash_is_replaced_on_a_successful_check():
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct-horse-1")
    security.set_password_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    check = security.verify_password(old, "correct-horse-1")
    assert check.ok and check.new_hash is not None and "$m=16,t=2,p=1$" in check.new_hash
    assert security.verify_password(check.new_hash, "correct-horse-1") == security.PasswordCheck(ok=True)
    assert security.verify_password(old, "wrong-password").new_hash is None


@pytest.mark.parametrize(
    ("password", "username", "problem"),
    [
        ("short-1", None, "at least 10 characters long (it has 7)"),
        ("13800138000", None, "must not be all digits"),
        ("Zhang.San.01", "zhang.san.01", "must not be the username"),
        (" padded-password ", None, "must not start or end with a space"),
        ("x" * 201, None, "at most 200 characters"),
    ],
)
def test_password_policy_explains_what_is_wrong(password, username, problem):
    problems = security.password_problems(password, username=username)
    assert any(problem in p for p in problems), problems


def test_password_policy_accepts_a_reasonable_password():
    assert security.password_problems("锦湖社区-网格员-2026", username="gridworker") == []
    assert security.password_problems("correct-horse-1", username="zhang") == []


def test_random_tokens_are_long_and_distinct():
    tokens = {security.random_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)


def test_token_hash_is_keyed():
    assert security.token_hash("ggv_abc_def", "key-1") == security.token_hash("ggv_abc_def", "key-1")
    assert security.token_hash("ggv_abc_def", "key-1") != security.token_hash("ggv_abc_def", "key-2")
    assert len(security.token_hash("ggv_abc_def", "key-1")) == 64


def test_same_secret_never_matches_a_missing_value():
    assert security.same_secret("abc", "abc")
    assert not security.same_secret("abc", "abd")
    assert not security.same_secret("", "")
    assert not security.same_secret(None, "abc")
    assert not security.same_secret("abc", None)
