"""The API tests run over the risk service the risk tests build (fixtures shared, not copied)."""

from tests.risk.conftest import api, service  # noqa: F401 - pytest fixtures
