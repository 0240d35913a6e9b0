"""Fakes and helpers shared by the tests and the benchmarks; the fixtures among them are
pytest plugins listed in tests/conftest.py."""
