"""Hypothesis strategies for malformed platform payloads: a real payload's shape with each
field kept, dropped, or replaced by junk of any type (huge strings, nested containers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

HUGE = "x" * 200_000

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=30), st.just(HUGE), st.just(""), st.just("\x00\ud7ff\U0010ffff"),
)
junk: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def mangled(template: Any) -> st.SearchStrategy[Any]:
    """``template`` with any of its fields, at any depth, dropped or replaced by junk."""
    if isinstance(template, Mapping):
        fields = {k: mangled(v) for k, v in template.items()}
        return st.one_of(st.fixed_dictionaries({}, optional=fields), junk)
    if isinstance(template, list):
        return st.one_of(st.lists(st.one_of(*[mangled(v) for v in template]) if template
                                  else junk, max_size=3), junk)
    return st.one_of(st.just(template), junk)
