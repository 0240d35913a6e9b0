"""The shared fixtures are pytest plugins in tests/support (pytest reads ``pytest_plugins``
only here, at the rootdir); their fakes and helpers are imported from tests.support.*."""

pytest_plugins = [
    "tests.support.fixtures_app",
    "tests.support.fixtures_slack",
    "tests.support.fixtures_matrix",
]
