"""Conformance suites: one module per domain plus lifecycle and index management.

Every async case is marked ``pytest.mark.asyncio`` (module ``pytestmark``) so the kit runs
in projects using pytest-asyncio's strict mode. Fixtures come from
:mod:`agent_storage.testing.plugin`. Import :func:`agent_storage.testing.suite_classes`
rather than these modules one by one, so new suites are picked up.
"""
