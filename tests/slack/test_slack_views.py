"""The modal's fields as a command line, without I/O: every title stays one token, and
each refusal lands beside its field."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters import slack_views as views
from bot.syntax import tokenize


def _form(**kw: object) -> views.LetterForm:
    values: dict[str, object] = {
        "channel": "C1", "title": "T", "link": "", "date": None, "time": None,
        "visibility": "count", "threshold": "",
        "fields": frozenset({"title", "link", "deadline_date", "deadline_time", "visibility"}),
    }
    values.update(kw)
    return views.LetterForm(**values)  # type: ignore[arg-type]


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60))
def test_any_title_is_one_token_of_the_new_line(title: str) -> None:
    tokens = tokenize(views.new_command(_form(title=title)))
    assert [t.text for t in tokens[:1]] == ["new"]
    assert tokens[1].quoted
    if not all(c in title for c in "\"”'’»"):
        assert tokens[1].text == title
    assert [t.word for t in tokens[2:]] == ["visibility", "count"]


def test_refusals_land_beside_their_fields() -> None:
    sealed = _form(fields=frozenset({"title", "link", "deadline_date", "visibility", "threshold"}))
    assert views.field_of("'https://threshold.example' is not a web link; links start with "
                          "https://.", sealed) == "link"
    assert views.field_of("A threshold applies only to sealed letters (visibility sealed).",
                          sealed) == "threshold"
    assert views.field_of("A threshold applies only to sealed letters (visibility sealed).",
                          _form()) == "visibility"  # no threshold field shown: its neighbour
    assert views.field_of("'2020-01-01 09:00' is in the past (Wed 2020-01-01 09:00 UTC).",
                          _form(date="2020-01-01")) == "deadline_date"
    assert views.field_of("This room already has 50 open letters, the most allowed; close one "
                          "first.", _form()) == "title"
