"""Mobile-shield errors: every failed check raises one of these, never returns ``False``.

Codes are stable. The signature check itself is opaque (one error for "does not verify", whatever
the reason inside the maths); the surrounding checks (unknown key, revoked, replayed, stale) say
which, because the bank's analysts need to know and none of them helps a forger.
"""

from __future__ import annotations

from dunpai.core.errors import Conflict, DunpaiError


class ShieldError(DunpaiError):
    """A mobile-shield check failed. ``status`` is the short name the decision features use."""

    code = "shield_error"
    status = "malformed"


class MalformedShield(ShieldError):
    code = "shield_malformed"
    status = "malformed"


class UnknownShieldKey(ShieldError):
    code = "shield_unknown_key"
    status = "unknown_key"


class BadShieldSignature(ShieldError):
    code = "shield_bad_signature"
    status = "bad_signature"

    def __init__(self) -> None:
        super().__init__("mobile-shield signature did not verify")


class ReplayedShield(ShieldError):
    code = "shield_replayed"
    status = "replayed"


class RevokedShieldKey(ShieldError):
    code = "shield_revoked"
    status = "revoked"


class StaleShield(ShieldError):
    code = "shield_stale"
    status = "stale"


class WrongCustomer(ShieldError):
    code = "shield_wrong_customer"
    status = "wrong_customer"


class ShieldKeyExists(Conflict):
    """A different device is already enrolled under this key id."""

    code = "shield_key_exists"


class MissingShield(ShieldError):
    code = "shield_missing"
    status = "missing"
