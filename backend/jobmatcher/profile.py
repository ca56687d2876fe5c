"""The person's own data: profile, preferences and skills (the app's small data layer).

Functions take an open connection (see `database.connect`); each write is one
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ValidationError


class Profile(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    full_name: str = Field("", max_length=200)
    headline: str = Field("", max_length=300)
    email: str = Field("", max_length=320)
    location: str = Field("", max_length=200)
    summary: str = Field("", max_length=10_000)


class Skill(BaseModel):
    id: int
    name: str
    level: int | None = None
    years_experience: int | None = None


class NewSkill(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    level: int | None = Field(None, ge=1, le=5)
    years_experience: int | None = Field(None, ge=0, le=80)

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if any(ord(c) < 32 for c in v):
            raise ValueError("must not contain control characters")
        return v


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")  # may fail too (a full disk, a reader holding the lock): roll back then
    except BaseException:
        _rollback_quietly(conn)
        raise


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a failed transaction. SQLite may have rolled it back itself (a full disk does), and a failing
    ROLLBACK must not hide the error that says why the write failed."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def get_profile(conn: sqlite3.Connection) -> Profile:
    """The profile (empty fields when none was saved yet)."""
    row = conn.execute("SELECT full_name, headline, email, location, summary FROM user_profile WHERE id = 1").fetchone()
    if row is None:
        return Profile()
    return Profile(full_name=row[0], headline=row[1], email=row[2], location=row[3], summary=row[4])


def update_profile(conn: sqlite3.Connection, profile: Profile) -> Profile:
    """Save the whole profile."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO user_profile (id, full_name, headline, email, location, summary, updated_at) "
            "VALUES (1, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP) ON CONFLICT(id) DO UPDATE SET "
            "full_name=excluded.full_name, headline=excluded.headline, email=excluded.email, "
            "location=excluded.location, summary=excluded.summary, updated_at=CURRENT_TIMESTAMP",
            (profile.full_name, profile.headline, profile.email, profile.location, profile.summary),
        )
    return get_profile(conn)


def list_skills(conn: sqlite3.Connection) -> list[Skill]:
    has_years = "years_experience" in _columns(conn, "skills")
    cols = "id, name, level" + (", years_experience" if has_years else "")
    return [
        Skill(id=r[0], name=r[1], level=r[2], years_experience=r[3] if has_years else None)
        for r in conn.execute(f"SELECT {cols} FROM skills ORDER BY name COLLATE NOCASE")
    ]


def add_skill(conn: sqlite3.Connection, skill: NewSkill) -> Skill:
    """Add a skill; a name that is already there (in any letter case) is refused."""
    try:
        with transaction(conn):
            cur = conn.execute(
                "INSERT INTO skills (name, level, years_experience) VALUES (?, ?, ?)",
                (skill.name, skill.level, skill.years_experience),
            )
    except sqlite3.IntegrityError:
        raise ValidationError(f"The skill {skill.name!r} is already in your list.", "") from None
    assert cur.lastrowid is not None  # an INSERT that succeeded has a row id
    return Skill(id=cur.lastrowid, name=skill.name, level=skill.level, years_experience=skill.years_experience)


SQLITE_MAX_ROWID = (1 << 63) - 1


def remove_skill(conn: sqlite3.Connection, skill_id: int) -> None:
    """Remove one skill by its id; ValidationError when there is no such skill (any id, however large)."""
    if not 1 <= int(skill_id) <= SQLITE_MAX_ROWID:  # SQLite cannot even be asked about it
        raise ValidationError("There is no skill with that id.", "Reload the page and try again.")
    with transaction(conn):
        cur = conn.execute("DELETE FROM skills WHERE id = ?", (int(skill_id),))
    if cur.rowcount == 0:
        raise ValidationError(f"There is no skill with id {skill_id}.", "Reload the page and try again.")


def get_preferences(conn: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM user_preferences ORDER BY key")}


def set_preference(conn: sqlite3.Connection, key: str, value: Any) -> None:
    if not key or len(key) > 100:
        raise ValidationError("A preference needs a name of 1 to 100 characters.", "")
    with transaction(conn):
        conn.execute(
            "INSERT INTO user_preferences (key, value, updated_at) VALUES (?, ?, CURRENT_TIMESTAMP) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=CURRENT_TIMESTAMP",
            (key, json.dumps(value)),
        )
