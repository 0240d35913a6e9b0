"""Slack's modals and Home tab, with no I/O: the views the adapter opens and publishes,
and what their submissions say, as the neutral command lines the core already checks.

The "Start a letter" and "Edit" modals become the same ``new`` and ``edit`` lines a person
could type, so the core refuses them with the same words; ``field_of`` puts each refusal
beside the field it concerns (``response_action: errors``). Every view stays within
Slack's limits: a title of 24 characters, 100 blocks, 3,000 characters per text and of
``private_metadata``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from adapters import slack_translate as tr
from adapters.slack_manifest import SHORTCUT_CALLBACK
from bot.events import Editable, Held

Payload = Mapping[str, Any]
View = dict[str, Any]

# callback ids of the global shortcut and of the modals
NEW_CALLBACK = SHORTCUT_CALLBACK  # the shortcut's and its modal's
EDIT_CALLBACK = "undersign_edit"
CLOSE_CALLBACK = "undersign_close"
ANSWER_CALLBACK = "undersign_answer"
# Home tab buttons: action id -> the command it stands for (Close asks first, in a modal).
HOME_ACTIONS: Mapping[str, str] = {
    "undersign_home_signers": "signers",
    "undersign_home_export": "export",
    "undersign_home_final": "final",
    "undersign_home_withdraw": "unsign",
}
HOME_CLOSE = "undersign_home_close"

# block ids of the "Start a letter" and "Edit" modals (each input's action id is the same)
CHANNEL, TITLE, LINK, NO_LINK, DATE, TIME, NO_DEADLINE, VISIBILITY, THRESHOLD = (
    "channel", "title", "link", "link_none", "deadline_date", "deadline_time",
    "deadline_none", "visibility", "threshold")
# The visibility radio buttons dispatch their choice (the threshold shows for sealed):
# Slack sends the element's action id, which is its block's.
VISIBILITY_ACTION = VISIBILITY

MAX_TITLE = 200  # as commands.parser.MAX_TITLE: Slack's own field stops there
VIEW_BLOCKS = 100
TEXT_LIMIT = tr.SECTION_LIMIT
LABELS = 75  # Slack's limit on an option's text and description


def _plain(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " "}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, TEXT_LIMIT) or " "}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(label, 75),
                           "value": value}
    if style:
        out["style"] = style
    return out


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None, dispatch: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _plain(label, 2000),
                             "element": {**element, "action_id": block_id},
                             "optional": optional}
    if hint:
        block["hint"] = _plain(hint, 2000)
    if dispatch:
        block["dispatch_action"] = True
    return block


def _modal(callback: str, title: str, blocks: list[dict[str, Any]], *,
           submit: str | None = None, close: str = "Close",
           metadata: Mapping[str, Any] | None = None) -> View:
    view: View = {"type": "modal", "callback_id": callback, "title": _plain(title, 24),
                  "close": _plain(close, 24), "blocks": blocks[:VIEW_BLOCKS]}
    if submit:
        view["submit"] = _plain(submit, 24)
    if metadata is not None:
        view["private_metadata"] = json.dumps(dict(metadata), ensure_ascii=False)
    return view


def _first_action(body: Payload, action_id: str) -> Mapping[str, Any] | None:
    actions = body.get("actions")
    for action in actions if isinstance(actions, list) else ():
        if isinstance(action, Mapping) and action.get("action_id") == action_id:
            return action
    return None


def home_choice(body: Payload) -> tuple[str, int] | None:
    """A Home tab button: its action id and the letter it is about."""
    actions = body.get("actions")
    action = tr.map_of(actions[0]) if isinstance(actions, list) and actions else {}
    action_id, value = action.get("action_id"), action.get("value")
    if (action_id not in HOME_ACTIONS and action_id != HOME_CLOSE) or not isinstance(value, str) \
            or not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    return str(action_id), int(value)


# --- Start a letter, and Edit ------------------------------------------------------------

VISIBILITIES: tuple[tuple[str, str, str], ...] = (
    ("count", "Count only", "The count is public; names go to the organizers only."),
    ("public", "Public", "Anyone can see who signed."),
    ("sealed", "Sealed", "Nobody, organizers included, sees a name until the threshold."),
)
THRESHOLD_HINT = ("No name is shown to anyone until this many people who do not organize "
                  "the letter have signed.")


def _removal(block_id: str, label: str, text: str) -> dict[str, Any]:
    return _input(block_id, label, {"type": "checkboxes", "options": [
        {"text": _plain(text, LABELS), "value": "none"}]}, optional=True)


def _letter_fields(chosen: str | None, *, editing: bool,
                   was: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The fields both modals share, after the title: link, deadline, who sees who signed,
    and the threshold once sealed is chosen. ``chosen``: the visibility picked; ``was``:
    an Edit form's values as opened (the letter as it was), shown filled in."""
    was = was or {}
    link: dict[str, Any] = {"type": "plain_text_input", "placeholder": _plain("https://…", 150)}
    if was.get("link"):
        link["initial_value"] = was["link"]
    blocks = [_input(LINK, "Link to the draft", link, optional=True,
                     hint="Clear it, or tick Remove the link, to remove it." if editing
                     else None)]
    if editing:
        blocks.append(_removal(NO_LINK, "No link", "Remove the link"))
    date: dict[str, Any] = {"type": "datepicker"}
    time: dict[str, Any] = {"type": "timepicker"}
    if was.get("date"):
        date["initial_date"] = was["date"]
    if was.get("time"):
        time["initial_time"] = was["time"]
    blocks.append(_input(DATE, "Deadline (day)", date, optional=True,
                         hint="Signing closes by itself then. A day alone means 09:00."))
    blocks.append(_input(TIME, "Deadline (time)", time, optional=True,
                         hint="In your Slack time zone."))
    if editing:
        blocks.append(_removal(NO_DEADLINE, "No deadline", "Remove the deadline"))
    options = [{"text": _plain(label, LABELS), "description": _plain(line, LABELS),
                "value": value} for value, label, line in VISIBILITIES]
    radio: dict[str, Any] = {"type": "radio_buttons", "options": options}
    initial = [o for o in options if o["value"] == chosen]
    if initial:
        radio["initial_option"] = initial[0]
    blocks.append(_input(VISIBILITY, "Who sees who signed", radio, optional=editing, dispatch=True,
                         hint="Once someone has signed, only more private: public → count → "
                              "sealed." if editing else None))
    if chosen == "sealed":
        threshold: dict[str, Any] = {"type": "plain_text_input",
                                     "placeholder": _plain("How many must sign", 150)}
        if was.get("threshold") and was.get("visibility") == "sealed":
            threshold["initial_value"] = was["threshold"]
        blocks.append(_input(THRESHOLD, "Threshold", threshold, optional=editing,
                             hint=THRESHOLD_HINT))
    return blocks


def new_letter(channel: str | None, visibility: str = "count") -> View:
    """The "Start a letter" modal: the channel to announce in is the one the command came
    from (kept in ``private_metadata``), or chosen here when opened from the shortcut. The
    threshold shows for a sealed letter (the visibility buttons update the view)."""
    blocks: list[dict[str, Any]] = []
    if channel is None:
        blocks.append(_input(CHANNEL, "Announce it in", {
            "type": "conversations_select",
            "placeholder": _plain("A channel I am in", 150),
            "filter": {"include": ["public", "private", "mpim"], "exclude_bot_users": True},
        }, hint="Private channels and group DMs work once I am invited: /invite @undersign."))
    blocks.append(_input(TITLE, "Title", {
        "type": "plain_text_input", "max_length": MAX_TITLE,
        "placeholder": _plain("Open letter on the reorganisation", 150)}))
    blocks += _letter_fields(visibility, editing=False)
    return _modal(NEW_CALLBACK, "Start a letter", blocks, submit="Start", close="Cancel",
                  metadata={"channel": channel})


EDIT_INTRO = ("This is the letter as it is now: change what you want to change, and what "
              "you leave stays as it is. Once someone has signed, a new title or link (or "
              "removing the link) makes a new version, which its signers confirm by signing "
              "again.")
NOTHING_CHANGED = ("Nothing was changed: the form is as it was when you opened it. Change a "
                   "field, or Cancel.")
# The values an Edit form was opened with ride in its private_metadata (Slack's 3,000
# characters), so that its submission says only what the person changed. A link too long
# to fit beside the title is kept as a digest, enough to tell whether it changed.
METADATA_LIMIT = 3000
LINK_DIGEST = "link_digest"


def opened_values(editable: Editable) -> dict[str, str]:
    """A letter's fields as the Edit form shows them ("" for none): the deadline as a day
    and a time in the person's zone, as the pickers hold them."""
    deadline = editable.deadline
    return {
        "title": editable.title,
        "link": editable.link or "",
        "date": deadline.strftime("%Y-%m-%d") if deadline else "",
        "time": deadline.strftime("%H:%M") if deadline else "",
        "visibility": editable.visibility,
        "threshold": str(editable.threshold) if editable.threshold is not None else "",
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _fitted(meta: dict[str, Any]) -> dict[str, Any]:
    was = meta.get("was")
    if (not isinstance(was, dict) or "link" not in was
            or len(json.dumps(meta, ensure_ascii=False)) <= METADATA_LIMIT):
        return meta
    was[LINK_DIGEST] = _digest(str(was.pop("link")))
    return meta


def edit_letter(letter: int, channel: str | None, was: Mapping[str, str] | None = None,
                visibility: str | None = None) -> View:
    """The "Edit" modal of letter ``letter``, filled in with ``was``, its fields as the
    core answered ``fields`` to this organizer (the adapter keeps no letter's data). The
    values it opened with ride in its ``private_metadata``: the submission sends only
    what differs from them."""
    was = {k: v for k, v in (was or {}).items() if isinstance(v, str)}
    title: dict[str, Any] = {"type": "plain_text_input", "max_length": MAX_TITLE}
    if was.get("title"):
        title["initial_value"] = was["title"]
    blocks = [_section(EDIT_INTRO), _input(TITLE, "Title", title)]
    blocks += _letter_fields(visibility or was.get("visibility"), editing=True, was=was)
    return _modal(EDIT_CALLBACK, f"Edit L{letter}", blocks, submit="Save", close="Cancel",
                  metadata=_fitted({"letter": letter, "channel": channel, "was": was}))


def rebuilt(view: Payload, visibility: str) -> View | None:
    """The "Start a letter" or "Edit" modal ``view`` once ``visibility`` is picked (the
    threshold shows for sealed), or None for another view."""
    meta = metadata(view)
    channel = meta.get("channel") if isinstance(meta.get("channel"), str) else None
    callback, letter = view.get("callback_id"), meta.get("letter")
    if callback == NEW_CALLBACK:
        return new_letter(channel, visibility)
    if callback == EDIT_CALLBACK and isinstance(letter, int):
        was = meta.get("was")
        return edit_letter(letter, channel, was if isinstance(was, dict) else None, visibility)
    return None


@dataclass(frozen=True)
class LetterForm:
    """What a "Start a letter" or "Edit" submission says (empty: not given)."""

    channel: str | None
    title: str
    link: str
    date: str | None
    time: str | None
    visibility: str | None
    threshold: str
    fields: frozenset[str]  # the block ids the submitted view has
    no_deadline: bool = False
    no_link: bool = False


def metadata(view: Payload) -> dict[str, Any]:
    raw = view.get("private_metadata")
    try:
        found = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _state(view: Payload, block: str) -> Mapping[str, Any]:
    values = tr.map_of(tr.map_of(view.get("state")).get("values"))
    return tr.map_of(tr.map_of(values.get(block)).get(block))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_form(view: Payload) -> LetterForm:
    blocks = view.get("blocks")
    fields = frozenset(str(b.get("block_id")) for b in (blocks if isinstance(blocks, list) else ())
                       if isinstance(b, Mapping) and b.get("type") == "input")
    chosen = tr.map_of(_state(view, VISIBILITY).get("selected_option")).get("value")
    channel = _text(_state(view, CHANNEL).get("selected_conversation")) or _text(
        metadata(view).get("channel"))
    removed = _state(view, NO_DEADLINE).get("selected_options")
    unlinked = _state(view, NO_LINK).get("selected_options")
    return LetterForm(
        channel=channel or None,
        title=_text(_state(view, TITLE).get("value")),
        link=_text(_state(view, LINK).get("value")).strip(),
        date=_text(_state(view, DATE).get("selected_date")) or None,
        time=_text(_state(view, TIME).get("selected_time")) or None,
        visibility=_text(chosen) or None,
        threshold=_text(_state(view, THRESHOLD).get("value")).strip(),
        fields=fields,
        no_deadline=isinstance(removed, list) and bool(removed),
        no_link=isinstance(unlinked, list) and bool(unlinked),
    )


def chosen_visibility(body: Payload) -> str | None:
    action = _first_action(body, VISIBILITY_ACTION)
    value = tr.map_of(action.get("selected_option")).get("value") if action else None
    return value if isinstance(value, str) else None


def was_of(view: Payload) -> dict[str, str]:
    """The values an Edit form was opened with (empty for a form opened without them)."""
    was = metadata(view).get("was")
    return {k: v for k, v in was.items() if isinstance(v, str)} if isinstance(was, dict) else {}


# Opening quote -> the characters that close it (as bot.syntax reads them).
_QUOTES = (('"', '"”'), ("'", "'’"), ("“", "”\""), ("‘", "’'"), ("«", "»"))


def quoted(text: str) -> str:
    """``text`` as one token of a command line, whatever quotes it holds. A text holding
    every closing quote has its double quotes made double primes (″): nothing else can
    hold it in one token."""
    for opener, closers in _QUOTES:
        if not any(c in text for c in closers):
            return f"{opener}{text}{opener if opener in closers else closers[0]}"
    return '"' + text.replace('"', "″").replace("”", "″") + '"'


def form_problem(form: LetterForm, was: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """What the adapter refuses itself, before the core: (field, problem). ``was``: an
    Edit form's values as opened (a day shown there and left alone is no new deadline)."""
    was = was or {}
    if form.channel is None and CHANNEL in form.fields:
        return CHANNEL, "Choose a channel to announce the letter in."
    if form.time and not form.date:
        return DATE, "Choose a day for the deadline too, or clear its time."
    if form.date and form.no_deadline and _moved(form, was):
        return DATE, "Choose a day for the deadline, or remove it: not both."
    if form.link and form.no_link and not _same_link(form.link, was):
        return LINK, "Give a new link, or remove it: not both."
    return None


def _moved(form: LetterForm, was: Mapping[str, str]) -> bool:
    return (form.date or "", form.time or "") != (was.get("date", ""), was.get("time", ""))


def _same_link(link: str, was: Mapping[str, str]) -> bool:
    if LINK_DIGEST in was:
        return _digest(link) == was[LINK_DIGEST]
    return link == was.get("link", "")


def _had_link(was: Mapping[str, str]) -> bool:
    return bool(was.get("link")) or (LINK_DIGEST in was and was[LINK_DIGEST] != _digest(""))


def _field_words(form: LetterForm) -> list[str]:
    """The fields after the title, as the command line's words, every value quoted."""
    parts: list[str] = []
    if form.link:
        parts += ["link", quoted(form.link)]
    if form.date:
        parts += ["deadline", quoted(f"{form.date} {form.time or '09:00'}")]
    elif form.no_deadline:
        parts += ["deadline", "none"]
    if form.visibility:
        parts += ["visibility", form.visibility]
    if form.threshold:
        parts += ["threshold", quoted(form.threshold)]
    return parts


def new_command(form: LetterForm) -> str:
    """The submission as the ``new`` line a person would type: every value quoted, so the
    core reads it as typed and refuses it with the command's own words."""
    return " ".join(["new", quoted(form.title),
                     *_field_words(replace(form, visibility=form.visibility or "count"))])


def edit_command(letter: int, form: LetterForm, was: Mapping[str, str] | None = None
                 ) -> str | None:
    """An "Edit" submission as the ``edit`` line: only the fields that differ from the
    values the form was opened with (``was``), so that a field left alone says nothing —
    not even the visibility it already had, which a signed letter would otherwise check
    as a change — and an organizer's edit does not undo another's made meanwhile. None:
    nothing differs."""
    was = was or {}
    parts: list[str] = []
    if form.title.strip() and form.title.strip() != was.get("title", "").strip():
        parts += ["title", quoted(form.title)]
    if form.no_link or (not form.link and _had_link(was)):
        parts += ["link", "none"]
    elif form.link and not _same_link(form.link, was):
        parts += ["link", quoted(form.link)]
    if form.no_deadline:
        parts += ["deadline", "none"]
    elif form.date and _moved(form, was):
        parts += ["deadline", quoted(f"{form.date} {form.time or '09:00'}")]
    if form.visibility and form.visibility != was.get("visibility"):
        parts += ["visibility", form.visibility]
    if form.threshold and form.threshold != was.get("threshold"):
        parts += ["threshold", quoted(form.threshold)]
    return " ".join([f"edit L{letter}", *parts]) if parts else None


# A refusal's words -> the field it concerns, first match wins; quoted user text is
# left out of the match ('https://threshold.example' is about the link). A refusal about
# the letter rather than a field (not an organizer, closed) goes on the title, the first.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("only the organizers", TITLE),
    ("there is no letter", TITLE),
    ("is closed", TITLE),
    ("say what to change", TITLE),
    ("threshold", THRESHOLD),
    ("visibility", VISIBILITY),
    ("link", LINK),
    ("title", TITLE),
    ("a command may have", TITLE),
    ("open letters", CHANNEL),
    ("channel", CHANNEL),
)
_QUOTED = re.compile(r"'[^']*'")


def field_of(problem: str, form: LetterForm) -> str:
    """The field a refusal of the ``new`` or ``edit`` line concerns, among those the view
    has; a time that cannot be used is the deadline's; anything else the title's."""
    words = _QUOTED.sub("", problem).lower()
    found = next((field for key, field in _FIELDS if key in words), None)
    if found is None:
        found = DATE if form.date else TITLE
    if found not in form.fields:
        found = VISIBILITY if found == THRESHOLD else TITLE
    return found if found in form.fields else next(iter(sorted(form.fields)), TITLE)


def field_error(problem: str) -> str:
    return _cut(problem, 2000)


# --- Close, and answers shown in a modal ------------------------------------------------


def close_letter(letter: int, channel: str | None) -> View:
    return _modal(CLOSE_CALLBACK, f"Close L{letter}?", [_section(
        f"Close *L{letter}*? Nobody can sign or withdraw after this. The organizers get the "
        "final list privately; a sealed letter below its threshold is destroyed unseen.")],
        submit="Close letter", close="Cancel", metadata={"letter": letter, "channel": channel})


def answer(title: str, blocks: Sequence[dict[str, Any]]) -> View:
    """A modal showing a private answer (a list, an export, a confirmation): a surface that
    is not a message, so it is in no history. Cut visibly at Slack's 100 blocks."""
    shown = list(blocks)
    if len(shown) > VIEW_BLOCKS:
        shown = [*shown[: VIEW_BLOCKS - 1],
                 _section("… cut here: Slack shows at most 100 blocks in a modal. "
                          "The whole text comes with the command in the channel.")]
    return _modal(ANSWER_CALLBACK, title, shown)


PREPARING = ("Preparing the answer: a long one takes a while (a signature block asks Slack "
             "for each signer's display name). Keep this window open: it shows here when "
             "ready.")
PREPARING_EDIT = "Getting the letter as it is now. Keep this window open: the form shows here."


def preparing(title: str, *, late: bool = False, text: str = PREPARING) -> View:
    """The modal of an answer that takes longer than Slack waits to open one: it is being
    prepared (``late``: it did not come in time)."""
    return answer(title, [_section(
        "This took too long. Try again later; the answer may also come as a message only "
        "you can see." if late else text)])


def not_member(bot_name: str, command: str) -> str:
    """The answer to a command that would post where the bot is not a member."""
    return (
        f"I am not in this channel, so I cannot announce a letter here. To start or announce "
        f"letters in this channel, invite me first: `/invite @{bot_name}` (a private channel "
        f"or a group DM works the same way once I am invited). Here you can still use "
        f"everything that answers only you — sign, withdraw, status, mine, privacy, help — "
        f"with `{command}`."
    )


# --- the Home tab -----------------------------------------------------------------------

HOME_PRIVACY = (
    "Only you see this tab: it is not a message, so it is in no channel's or DM's history "
    "and in no export. It shows the letters you organize and the ones you signed, and "
    "nothing about anyone else that you may not see. Counts of letters that are not public "
    "follow the same rules as everywhere (refreshed on a timer, 'fewer than 3' below 3)."
)
HOME_LETTERS = 45  # two blocks each, within the 100 blocks of a view


def _held_line(h: Held) -> str:
    parts = [f"*{h.ref}* {tr.user_text(_cut(h.title, 250))}",
             f"{'Open' if h.is_open else 'Closed'} · {h.count}"
             + (f" · deadline {h.deadline}" if h.deadline else ""),
             f"_{tr.escape(h.visibility)}_"]
    if h.pledge:
        parts.append(tr.escape(h.pledge[0].upper() + h.pledge[1:]) + ".")
    return "\n".join(parts)


def _organized(h: Held) -> list[dict[str, Any]]:
    buttons = [_button("undersign_home_signers", "Signers", str(h.letter_id)),
               _button("undersign_home_export", "Export", str(h.letter_id)),
               _button("undersign_home_final", "Final block", str(h.letter_id))]
    if h.is_open:
        buttons.append(_button(HOME_CLOSE, "Close", str(h.letter_id), "danger"))
    return [_section(_held_line(h)),
            {"type": "actions", "block_id": f"home_org_{h.letter_id}", "elements": buttons}]


def _signed(h: Held) -> list[dict[str, Any]]:
    out = [_section(_held_line(h))]
    if h.is_open:
        out.append({"type": "actions", "block_id": f"home_signed_{h.letter_id}", "elements": [
            _button("undersign_home_withdraw", "Withdraw", str(h.letter_id))]})
    return out


def home(held: Sequence[Held], command: str) -> View:
    """The Home tab of one person. Past ``HOME_LETTERS`` letters it says how many more
    there are and how to list them all."""
    organized = [h for h in held if h.organizes]
    signed = [h for h in held if h.signed]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("Your letters", 150)}]
    room = HOME_LETTERS
    for title, group, build, empty in (
        ("Letters you organize", organized, _organized,
         f"None yet. Start one with `{command} new` in a channel, or the shortcut "
         "*Start a letter*."),
        ("Letters you signed or pledged", signed, _signed, "None."),
    ):
        blocks.append(_section(f"*{title}*"))
        shown = group[:room]
        room -= len(shown)
        for h in shown:
            blocks += build(h)
        if not group:
            blocks.append(_section(empty))
        elif len(shown) < len(group):
            blocks.append({"type": "context", "elements": [_mrkdwn(
                f"… and {len(group) - len(shown)} more not shown here: "
                f"`{command} mine` lists them all.")]})
        blocks.append({"type": "divider"})
    blocks.append({"type": "context", "elements": [_mrkdwn(HOME_PRIVACY)]})
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS]}
