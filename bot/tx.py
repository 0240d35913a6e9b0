"""``Tx``: one open transaction, and every query the commands need, by name. The
queries about people live in bot.people; the rest here."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.events import Room
from bot.model import (
    Announcement,
    Letter,
    Schedule,
    Scheduled,
    Visibility,
    utc_iso,
    utc_iso_exact,
)
from bot.people import PeopleQueries


class Tx(PeopleQueries):
    """One open transaction. Every query the commands need lives here, by name."""

    # events

    async def first_sighting(self, event_id: str, now: datetime) -> bool:
        """Record a platform event id; False when it was seen before (a redelivery). The
        time kept is the hour (rounded up, so a record lives at least 48 hours): the
        file does not say to the second when anyone did anything."""
        index = self.sealer.index("event:" + event_id)
        hour = now.replace(minute=0, second=0, microsecond=0)
        changed = await self._run(
            "INSERT OR IGNORE INTO seen_events (event_index, seen_at) VALUES (?, ?)",
            (index, utc_iso(hour if hour == now else hour + timedelta(hours=1))),
        )
        return changed == 1

    async def forget_events_before(self, moment: datetime) -> int:
        return await self._run("DELETE FROM seen_events WHERE seen_at < ?", (utc_iso(moment),))

    # letters

    async def create_letter(
        self,
        *,
        title: str,
        link: str | None,
        deadline: datetime | None,
        visibility: Visibility,
        threshold: int | None,
        now: datetime,
        only: tuple[str, ...] = (),
    ) -> Letter:
        self.timers_changed |= deadline is not None
        row = await self._one(
            "INSERT INTO letters (title, link, deadline, visibility, threshold, created_at,"
            " only) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (title, link, utc_iso(deadline) if deadline else None, str(visibility), threshold,
             utc_iso(now), ",".join(only) or None),
        )
        if row is None:  # SQLite returns the row it inserted, or raises
            raise RuntimeError("the new letter was not returned")
        return Letter.from_row(row)

    async def letter(self, letter_id: int) -> Letter | None:
        row = await self._one("SELECT * FROM letters WHERE id = ?", (letter_id,))
        return Letter.from_row(row) if row else None

    async def letters(self, *, state: str | None = None) -> list[Letter]:
        if state is None:
            rows = await self._all("SELECT * FROM letters ORDER BY id")
        else:
            rows = await self._all("SELECT * FROM letters WHERE state = ? ORDER BY id", (state,))
        return [Letter.from_row(r) for r in rows]

    async def open_letters_with_deadlines(self) -> list[Letter]:
        rows = await self._all(
            "SELECT * FROM letters WHERE state = 'open' AND deadline IS NOT NULL ORDER BY id"
        )
        return [Letter.from_row(r) for r in rows]

    async def stale_public_counts(self) -> list[Letter]:
        """Open letters whose public figures differ from the live ones: the count of a
        letter that is not public, the waiting pledges of any. One query over the counts
        cached on each letter, however many letters there are."""
        rows = await self._all(
            "SELECT * FROM letters WHERE state = 'open' AND ((visibility != 'public'"
            " AND counted != shown_count) OR pledged != shown_pledged"
            " OR waiting_min IS NOT shown_waiting) ORDER BY id"
        )
        return [Letter.from_row(r) for r in rows]

    async def show_figures(self, letter_id: int) -> None:
        """The count refresh: the public figures become the live ones."""
        await self._run("UPDATE letters SET shown_count = counted, shown_pledged = pledged,"
                        " shown_waiting = waiting_min WHERE id = ?", (letter_id,))

    async def open_letters_in(self, room: Room) -> list[Letter]:
        rows = await self._all(
            "SELECT letters.* FROM letters JOIN announcements a ON a.letter_id = letters.id"
            " WHERE a.platform = ? AND a.room = ? AND letters.state = 'open' ORDER BY letters.id",
            (room.platform, room.id),
        )
        return [Letter.from_row(r) for r in rows]

    async def close_letter(self, letter_id: int, now: datetime) -> None:
        self.timers_changed = True
        await self._run(
            "UPDATE letters SET state = 'closed', closed_at = ?, shown_pledged = 0,"
            " shown_waiting = NULL WHERE id = ?",
            (utc_iso(now), letter_id),
        )

    async def update_letter(self, letter: Letter) -> None:
        """Store an edited letter: its title, link, deadline, visibility, threshold,
        version, shown count and who may sign. A new version starts with nothing counted
        (a signature counts only for the version it was given to)."""
        self.timers_changed = True
        await self._run(
            "UPDATE letters SET title = ?, link = ?, deadline = ?, visibility = ?,"
            " threshold = ?, shown_count = ?, only = ?,"
            " counted = CASE WHEN version = ? THEN counted ELSE 0 END,"
            " pledged = CASE WHEN version = ? THEN pledged ELSE 0 END,"
            " waiting_min = CASE WHEN version = ? THEN waiting_min ELSE NULL END,"
            " pledge_max = CASE WHEN version = ? THEN pledge_max ELSE NULL END,"
            " version = ? WHERE id = ?",
            (letter.title, letter.link, utc_iso(letter.deadline) if letter.deadline else None,
             str(letter.visibility), letter.threshold, letter.shown_count,
             ",".join(letter.only) or None, *[letter.version] * 5, letter.id),
        )

    async def set_shown_count(self, letter_id: int, count: int) -> None:
        await self._run("UPDATE letters SET shown_count = ? WHERE id = ?", (count, letter_id))

    async def purge_closed_before(self, moment: datetime) -> int:
        return await self._run(
            "DELETE FROM letters WHERE state = 'closed' AND closed_at < ?", (utc_iso(moment),)
        )

    # schedules (reviews and reminders)

    async def add_schedule(
        self,
        *,
        letter_id: int,
        kind: str,
        next_at: datetime,
        recurrence: str | None,
        tz: str | None,
        review_at: datetime | None,
        text: str | None,
        audience: str,
        room: Room | None,
        now: datetime,
    ) -> int:
        self.timers_changed = True
        assert room is not None or audience != "room", "a reminder to the room needs one"
        assert room is None or not room.direct, "a direct room's id is never stored"
        async with self.db.execute(
            "INSERT INTO schedules (letter_id, kind, next_at, recurrence, tz, review_at, text,"
            " audience, platform, room, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (letter_id, kind, utc_iso_exact(next_at), recurrence, tz,
             utc_iso_exact(review_at) if review_at else None, text, audience,
             room.platform if room else "", room.id if room else "", utc_iso(now)),
        ) as cur:
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def schedule(self, schedule_id: int) -> Scheduled | None:
        row = await self._one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return Schedule.from_row(row) if row else None

    async def schedules(self, letter_id: int | None = None) -> list[Scheduled]:
        if letter_id is None:
            rows = await self._all("SELECT * FROM schedules ORDER BY next_at, id")
        else:
            rows = await self._all(
                "SELECT * FROM schedules WHERE letter_id = ? ORDER BY next_at, id", (letter_id,)
            )
        return [Schedule.from_row(r) for r in rows]

    async def schedules_for_room(self, room: Room) -> list[Scheduled]:
        """Reviews and reminders set in this room or for a letter announced in it."""
        rows = await self._all(
            "SELECT * FROM schedules WHERE (platform = ? AND room = ?) OR letter_id IN"
            " (SELECT letter_id FROM announcements WHERE platform = ? AND room = ?)"
            " ORDER BY next_at, id",
            (room.platform, room.id, room.platform, room.id),
        )
        return [Schedule.from_row(r) for r in rows]

    async def move_schedule(self, schedule_id: int, next_at: datetime) -> None:
        self.timers_changed = True
        await self._run("UPDATE schedules SET next_at = ? WHERE id = ?",
                        (utc_iso_exact(next_at), schedule_id))

    async def delete_schedule(self, schedule_id: int) -> bool:
        self.timers_changed = True
        return await self._run("DELETE FROM schedules WHERE id = ?", (schedule_id,)) == 1

    async def delete_schedules_of(self, letter_id: int) -> int:
        self.timers_changed = True
        return await self._run("DELETE FROM schedules WHERE letter_id = ?", (letter_id,))

    # announcements

    async def add_announcement(self, letter_id: int, room: Room) -> bool:
        changed = await self._run(
            "INSERT OR IGNORE INTO announcements (letter_id, platform, room) VALUES (?, ?, ?)",
            (letter_id, room.platform, room.id),
        )
        return changed == 1

    async def set_announcement_ref(self, letter_id: int, room: Room, message_ref: str) -> None:
        await self._run(
            "UPDATE announcements SET message_ref = ? WHERE letter_id = ? AND platform = ?"
            " AND room = ?",
            (message_ref, letter_id, room.platform, room.id),
        )

    async def announcements(self, letter_id: int) -> list[Announcement]:
        rows = await self._all(
            "SELECT * FROM announcements WHERE letter_id = ? ORDER BY platform, room",
            (letter_id,),
        )
        return [
            Announcement(r["letter_id"], Room(r["platform"], r["room"]), r["message_ref"])
            for r in rows
        ]

    async def letter_announced_by(self, room: Room, message_ref: str) -> int | None:
        row = await self._one(
            "SELECT letter_id FROM announcements WHERE platform = ? AND room = ?"
            " AND message_ref = ?",
            (room.platform, room.id, message_ref),
        )
        return int(row["letter_id"]) if row else None

    # where letters are seen

    async def is_announced_in(self, letter_id: int, room: Room) -> bool:
        """Whether the letter has an announcement in this room (its thread aside)."""
        row = await self._one(
            "SELECT 1 FROM announcements WHERE letter_id = ? AND platform = ? AND room = ?",
            (letter_id, room.platform, room.id),
        )
        return row is not None
