"""The command tests use the key tests' SoftHSM2 token (a fixture shared, not copied)."""

from tests.keys.conftest import softhsm_token  # noqa: F401 - pytest fixture
