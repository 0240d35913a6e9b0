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


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60),
       st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20))
def test_any_title_and_threshold_are_one_token_each_of_the_edit_line(
    title: str, threshold: str
) -> None:
    form = _form(title=title, visibility="sealed", threshold=threshold.strip())
    line = views.edit_command(7, form)
    assert line is not None
    tokens = tokenize(line)
    assert [t.text for t in tokens[:2]] == ["edit", "L7"]
    words = [t.word for t in tokens]
    if title.strip():
        assert words[2] == "title" and tokens[3].quoted
    if threshold.strip():
        assert words[-2] == "threshold" and tokens[-1].quoted
        assert words[-4:-2] == ["visibility", "sealed"]
    else:
        assert words[-2:] == ["visibility", "sealed"]


def test_an_edit_says_only_what_was_filled_in() -> None:
    empty = _form(title=" ", visibility=None)
    assert views.edit_command(2, empty) is None
    assert views.edit_command(2, _form(title="", visibility=None, no_deadline=True)) == (
        "edit L2 deadline none")
    assert views.edit_command(2, _form(title="", visibility=None, date="2030-01-02")) == (
        'edit L2 deadline "2030-01-02 09:00"')
    assert views.new_command(_form(visibility=None)) == 'new "T" visibility count'


def test_an_edit_form_says_only_what_differs_from_the_values_it_opened_with() -> None:
    was = {"title": "T", "link": "https://example.org/a", "date": "2030-01-02",
           "time": "17:30", "visibility": "sealed", "threshold": "5"}
    same = _form(link=was["link"], date="2030-01-02", time="17:30", visibility="sealed",
                 threshold="5")
    assert views.edit_command(2, same, was) is None
    assert views.form_problem(same, was) is None
    assert views.edit_command(2, _form(link=was["link"], date="2030-01-02", time="18:00",
                                       visibility="sealed", threshold="6"), was) == (
        'edit L2 deadline "2030-01-02 18:00" threshold "6"')
    assert views.edit_command(2, _form(date="2030-01-02", time="17:30", visibility="count",
                                       threshold=""), was) == (
        "edit L2 link none visibility count")
    removed = _form(link=was["link"], date="2030-01-02", time="17:30", visibility="sealed",
                    threshold="5", no_deadline=True, no_link=True)
    assert views.form_problem(removed, was) is None  # the day shown is the one it had
    assert views.edit_command(2, removed, was) == "edit L2 link none deadline none"


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
    for about_the_letter in ("Only the organizers of L3 can do that.",
                             "L3 is closed; it can no longer be edited."):
        assert views.field_of(about_the_letter, _form(date="2030-01-02")) == "title"
    assert views.field_of("L3 has been signed, so its visibility can only become more private "
                          "(public → count → sealed), not go from count to public.",
                          _form()) == "visibility"
