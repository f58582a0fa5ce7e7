"""Comms errors. Each carries a stable wire ``code`` that the service sends in ``error`` frames.

The house's shared meanings (``core.errors``: forbidden, not found, conflict) are the same classes
here, specialised so that comms code catching ``CommsError`` still sees them: a comms ``NotFound``
*is* a ``dunpai.core.errors.NotFound``, with the same code, presented alike everywhere.
"""

from __future__ import annotations

from dunpai.core import errors as core
from dunpai.core.errors import DunpaiError


class CommsError(DunpaiError):
    code = "comms_error"


class MalformedFrame(CommsError):
    code = "malformed_frame"


class UnsupportedVersion(CommsError):
    code = "unsupported_version"


class UnknownType(CommsError):
    code = "unknown_type"


class AuthFailed(CommsError):
    code = "auth_failed"


class NotAuthenticated(CommsError):
    code = "not_authenticated"


class InviteInvalid(CommsError):
    code = "invite_invalid"


class DeviceRevoked(CommsError):
    code = "device_revoked"


class Forbidden(CommsError, core.Forbidden):
    code = core.Forbidden.code


class NotFound(CommsError, core.NotFound):
    code = core.NotFound.code


class Conflict(CommsError, core.Conflict):
    code = core.Conflict.code


class RateLimited(CommsError):
    code = "rate_limited"


class TooLarge(CommsError):
    code = "too_large"


class NotConfigured(CommsError):
    """The service (or this machine) lacks what the request needs: a relay secret, a sound device."""

    code = "not_configured"


class DecryptionFailed(CommsError):
    """A ciphertext could not be decrypted or failed its integrity check (opaque on purpose)."""

    code = "decryption_failed"


class UntrustedDevice(CommsError):
    """A device's keys are not signed by its user's signing key, or the user key changed."""

    code = "untrusted_device"


class ReplayDetected(CommsError):
    code = "replay_detected"


class AttachmentCorrupted(CommsError):
    """Downloaded file content does not match the hash sent inside the E2E message. (Not
    SQLAlchemy's ``IntegrityError``, a database constraint: the wire code stays ``integrity_error``.)"""

    code = "integrity_error"


class DeployError(CommsError):
    """A private deployment could not be prepared, started or read."""

    code = "deploy_error"
