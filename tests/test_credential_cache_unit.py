"""The Basic credential cache as the auth uses it, in process.

Written against the mutants `bin/mutate api/v1/auth/credential_cache.py`
left alive (docs/mutation.md): the on/off rule of its two settings, and
passwords that are not valid UTF-8 text (a lone surrogate, which only a
script can pass).
"""
import pytest

from api.v1.auth.credential_cache import VerifiedCredentials

ENTRY = ("user-1", "pwd", "$argon2id$hash", 3)


@pytest.mark.parametrize("ttl, size", [(1, 1), (120, 1), (1, 10_000)])
def test_the_smallest_settings_that_turn_it_on(ttl, size):
    cache = VerifiedCredentials(ttl, size)
    assert not cache.knows(*ENTRY)
    cache.remember(*ENTRY)
    assert cache.knows(*ENTRY)


@pytest.mark.parametrize("ttl, size", [(0, 10), (120, 0), (0, 0), (-1, 5)])
def test_either_setting_at_0_turns_it_off(ttl, size):
    cache = VerifiedCredentials(ttl, size)
    cache.remember(*ENTRY)
    assert not cache.knows(*ENTRY)


def test_every_part_of_the_entry_counts():
    cache = VerifiedCredentials(120, 10)
    cache.remember(*ENTRY)
    user, password, stored, epoch = ENTRY
    assert not cache.knows("user-2", password, stored, epoch)
    assert not cache.knows(user, "pwd2", stored, epoch)
    assert not cache.knows(user, password, stored + "x", epoch)
    assert not cache.knows(user, password, stored, epoch + 1)
    assert not cache.knows(user, password, None, epoch)
    # The length prefixes keep the parts apart: moving a character from
    # one part to the next names another entry.
    assert not cache.knows("user-1p", "wd", stored, epoch)


def test_a_password_with_a_lone_surrogate():
    cache = VerifiedCredentials(120, 10)
    odd = ("user-1", "pw\ud800d", "$argon2id$hash", 0)
    cache.remember(*odd)
    assert cache.knows(*odd)
    assert not cache.knows("user-1", "pw\ud801d", "$argon2id$hash", 0)


def test_a_cache_of_one_keeps_the_newest():
    cache = VerifiedCredentials(120, 1)
    cache.remember(*ENTRY)
    cache.remember("user-2", "pwd", "$argon2id$other", 0)
    assert cache.knows("user-2", "pwd", "$argon2id$other", 0)
    assert not cache.knows(*ENTRY)
