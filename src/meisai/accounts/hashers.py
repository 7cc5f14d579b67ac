"""Password hashers that wrap a legacy 本人認証サービス hash in Argon2id (SPEC 3.5).

The enrolment import receives the legacy system's hashes (PBKDF2 or bcrypt, often with a low
work factor). Checked as they came, a wrong password for such an ID answers far sooner than one
for an unknown ID (for which Django runs Argon2 once), which tells an attacker which IDs exist.
So the import stores each legacy hash wrapped: Argon2id over the legacy hash's output, with the
legacy parameters (salt, iterations or bcrypt cost) kept beside it. A check runs the legacy
step, then one Argon2id, like any other login. This is Django's documented "password upgrading
without requiring a login" pattern; as these hashers are not the first of
``PASSWORD_HASHERS``, the first successful login replaces the wrapped hash by plain Argon2id.

Stored form: ``argon2_<legacy algorithm>$<legacy parameters>$m=…,t=…,p=…$<Argon2id hash>``:
the legacy salt and cost, then the Argon2id cost and hash (type Argon2id, version 19, its salt
derived from the legacy parameters, so that the whole fits ``Account.password``).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    BasePasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    PBKDF2PasswordHasher,
    PBKDF2SHA1PasswordHasher,
    identify_hasher,
)

#: What ``Account.password`` holds (Django's ``AbstractBaseUser``): a wrapped hash must fit.
PASSWORD_MAX_LENGTH = 128
#: An Argon2id hash of 32 bytes, in unpadded base64.
_ARGON2_HASH_CHARACTERS = 43


class MeisaiArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id at the cost meisai chose for its load, not Django's default.

    46 MiB, 1 pass, 1 lane: the first of OWASP's equivalent minimums for Argon2id (Password
    Storage Cheat Sheet), the one with the most memory per guess (what an attacker's GPU lacks)
    and a single pass, as RFC 9106's recommendations have. Django's default (100 MiB, 2 passes,
    8 lanes) costs about 3.6 times the CPU per login. docs/deployment.md, "Password hashing",
    gives the measured figures and the arithmetic of the confirmation day.

    The algorithm keeps Django's name, ``argon2``: a stored hash carries its own cost, so hashes
    of Django's default still verify, and ``must_update`` (their cost differs from this one)
    replaces them at the member's next successful login.
    """

    time_cost = 1
    memory_cost = 47104
    parallelism = 1


def _argon2_cost() -> str:
    """The Argon2id cost as Argon2 writes it, ``m=…,t=…,p=…``: meisai's chosen one."""
    hasher = MeisaiArgon2PasswordHasher
    return f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"


def _argon2_salt(parameters: str) -> str:
    """The Argon2id salt of a wrapped hash: derived from the legacy parameters, whose salt is
    random per password already (as in Django's example, which reuses the legacy salt). Not
    storing a salt of its own keeps the wrapped hash within ``PASSWORD_MAX_LENGTH``; the prefix
    gives it Argon2's minimum of 8 bytes."""
    return f"meisai:{parameters}"


class _LegacyWrappedPasswordHasher(BasePasswordHasher):
    """Argon2id over the output of the legacy hasher ``legacy``.

    Subclasses say how the legacy hash splits into its parameters and its output
    (``split_legacy``) and how to compute the output again from a password and those
    parameters (``_legacy_output``).
    """

    algorithm: str
    legacy: ClassVar[type[BasePasswordHasher]]

    def split_legacy(self, legacy_encoded: str) -> tuple[str, str]:
        """``(parameters, output)`` of a legacy hash; ``ValueError`` when it is not one."""
        raise NotImplementedError

    def _legacy_output(self, password: str, parameters: str) -> str:
        raise NotImplementedError

    def _legacy_fresh(self, password: str) -> str:
        """A legacy hash of ``password`` with a new salt (for ``encode``: tests, never logins)."""
        raise NotImplementedError

    # --- wrapping ----------------------------------------------------------------------------

    def wrap(self, legacy_encoded: str) -> str:
        """The wrapped form of a legacy hash, made without knowing the password (the import)."""
        return self._wrap(*self.split_legacy(legacy_encoded))

    def wrapped_length(self, legacy_encoded: str) -> int:
        """The length ``wrap`` gives, without running Argon2id."""
        parameters, _output = self.split_legacy(legacy_encoded)
        cost = _argon2_cost()
        return len(self.algorithm) + len(parameters) + len(cost) + _ARGON2_HASH_CHARACTERS + 3

    def _wrap(self, parameters: str, output: str) -> str:
        # Django's Argon2 hash is "argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash"; the type and
        # version are always these and the salt is derived, so only the cost and hash are kept.
        fields = MeisaiArgon2PasswordHasher().encode(output, _argon2_salt(parameters)).split("$")
        _name, variety, version, cost, _salt, argon2 = fields
        assert (variety, version) == ("argon2id", "v=19")
        return f"{self.algorithm}${parameters}${cost}${argon2}"

    def _unwrap(self, encoded: str) -> tuple[str, str]:
        """``(legacy parameters, Django's Argon2 hash)`` of a wrapped hash."""
        head, cost, argon2 = encoded.rsplit("$", 2)
        algorithm, _sep, parameters = head.partition("$")
        if algorithm != self.algorithm or not cost.startswith("m="):
            raise ValueError("not a wrapped legacy hash")
        salt = base64.b64encode(_argon2_salt(parameters).encode()).decode("ascii").rstrip("=")
        return parameters, f"argon2$argon2id$v=19${cost}${salt}${argon2}"

    # --- Django's hasher interface -----------------------------------------------------------

    def encode(self, password: str, salt: str) -> str:
        """Argon2id over a fresh legacy hash of ``password``. ``salt`` goes unused: the legacy
        hash gets a new salt of its own, from which the Argon2id salt is derived."""
        return self._wrap(*self.split_legacy(self._legacy_fresh(password)))

    def verify(self, password: str, encoded: str) -> bool:
        parameters, argon2 = self._unwrap(encoded)
        return MeisaiArgon2PasswordHasher().verify(
            self._legacy_output(password, parameters), argon2
        )

    def decode(self, encoded: str) -> dict[str, Any]:
        parameters, argon2 = self._unwrap(encoded)
        decoded = Argon2PasswordHasher().decode(argon2)
        return {**decoded, "algorithm": self.algorithm, "legacy_parameters": parameters}

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        _parameters, argon2 = self._unwrap(encoded)
        # Django's summary of the Argon2id part (its keys are Django's translated labels), under
        # this hasher's name; the legacy salt is left out like any salt.
        return {**Argon2PasswordHasher().safe_summary(argon2), "algorithm": self.algorithm}

    def harden_runtime(self, password: str, encoded: str) -> None:
        # Django calls this only for the preferred hasher's own hashes; a wrapped hash already
        # costs one Argon2id, like the preferred hasher's.
        pass


class _PBKDF2Wrapped(_LegacyWrappedPasswordHasher):
    """Legacy ``pbkdf2_…$iterations$salt$hash``: parameters ``iterations$salt``."""

    legacy: ClassVar[type[PBKDF2PasswordHasher]]

    def split_legacy(self, legacy_encoded: str) -> tuple[str, str]:
        algorithm, iterations, salt, output = legacy_encoded.split("$", 3)
        if algorithm != self.legacy.algorithm or not iterations.isdigit() or not salt or not output:
            raise ValueError(f"not a {self.legacy.algorithm} hash")
        return f"{iterations}${salt}", output

    def _legacy_output(self, password: str, parameters: str) -> str:
        iterations, salt = parameters.split("$", 1)
        legacy = self.legacy().encode(password, salt, int(iterations))
        return legacy.rsplit("$", 1)[1]

    def _legacy_fresh(self, password: str) -> str:
        hasher = self.legacy()
        return hasher.encode(password, hasher.salt())


class _BCryptWrapped(_LegacyWrappedPasswordHasher):
    """Legacy ``bcrypt…$$2b$12$`` + 22 characters of salt + 31 of hash: parameters the bcrypt
    salt (``$2b$12$`` and the 22 characters), output the 31."""

    legacy: ClassVar[type[BCryptSHA256PasswordHasher]]
    _SALT = 29
    _OUTPUT = 31

    def split_legacy(self, legacy_encoded: str) -> tuple[str, str]:
        algorithm, _sep, data = legacy_encoded.partition("$")
        if (
            algorithm != self.legacy.algorithm
            or len(data) != self._SALT + self._OUTPUT
            or not data.startswith("$2")
        ):
            raise ValueError(f"not a {self.legacy.algorithm} hash")
        return data[: self._SALT], data[self._SALT :]

    def _legacy_output(self, password: str, parameters: str) -> str:
        # Django's bcrypt hashers take the salt as bytes, as the bcrypt library does.
        legacy = self.legacy().encode(password, parameters.encode("ascii"))  # type: ignore[arg-type]
        return legacy[-self._OUTPUT :]

    def _legacy_fresh(self, password: str) -> str:
        hasher = self.legacy()
        return hasher.encode(password, hasher.salt())


class Argon2WrappedPBKDF2SHA256PasswordHasher(_PBKDF2Wrapped):
    algorithm = "argon2_pbkdf2_sha256"
    legacy = PBKDF2PasswordHasher


class Argon2WrappedPBKDF2SHA1PasswordHasher(_PBKDF2Wrapped):
    algorithm = "argon2_pbkdf2_sha1"
    legacy = PBKDF2SHA1PasswordHasher


class Argon2WrappedBCryptSHA256PasswordHasher(_BCryptWrapped):
    algorithm = "argon2_bcrypt_sha256"
    legacy = BCryptSHA256PasswordHasher


class Argon2WrappedBCryptPasswordHasher(_BCryptWrapped):
    algorithm = "argon2_bcrypt"
    legacy = BCryptPasswordHasher


#: The wrapper of each legacy algorithm the enrolment import accepts, by legacy algorithm.
WRAPPERS: dict[str, _LegacyWrappedPasswordHasher] = {
    str(hasher.legacy.algorithm): hasher
    for hasher in (
        Argon2WrappedPBKDF2SHA256PasswordHasher(),
        Argon2WrappedPBKDF2SHA1PasswordHasher(),
        Argon2WrappedBCryptSHA256PasswordHasher(),
        Argon2WrappedBCryptPasswordHasher(),
    )
}


class LegacyHashTooLong(ValueError):
    """A legacy hash whose salt is too long for its wrapped form to fit ``Account.password``."""

    def __init__(self, length: int) -> None:
        super().__init__(f"wrapped it would be {length} characters, over {PASSWORD_MAX_LENGTH}")


def legacy_hash_check(encoded: str) -> None:
    """``ValueError`` unless ``encoded`` is a hash the import takes: a well-formed legacy hash,
    or another hash of ``PASSWORD_HASHERS`` (Argon2 already, scrypt). Cheap: no hashing."""
    hasher = identify_hasher(encoded)
    wrapper = WRAPPERS.get(hasher.algorithm or "")
    if wrapper is not None:
        if wrapper.wrapped_length(encoded) > PASSWORD_MAX_LENGTH:
            raise LegacyHashTooLong(wrapper.wrapped_length(encoded))
    elif isinstance(hasher, _LegacyWrappedPasswordHasher):
        # meisai's own stored form, which no file of the core system holds (nor any export).
        raise ValueError("a wrapped hash is not an import")


def legacy_hash_wrap(encoded: str) -> str:
    """The hash to store for an imported one: a legacy hash wrapped in Argon2id (one Argon2id
    run), any other as it came. ``ValueError`` when ``legacy_hash_check`` would refuse it."""
    wrapper = WRAPPERS.get(identify_hasher(encoded).algorithm or "")
    return wrapper.wrap(encoded) if wrapper is not None else encoded
