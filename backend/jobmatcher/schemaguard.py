"""The schema guard: a database accepted as the user's data holds only the schema objects JobMatcher made.

SQLite stores a database's triggers, views and table definitions in the file itself and runs them on
every program's writes: a file with `CREATE TRIGGER wipe AFTER INSERT ON skills BEGIN DELETE FROM
saved_jobs; END` passes `PRAGMA integrity_check`, has every table and a known revision, and the app's
next ordinary edit deletes the user's saved jobs (finding T12). A foreign key with ON DELETE CASCADE
added to a table does the same without a trigger. So every path that accepts a file as the user's data
(verify, restore from any source, a new backup's check) compares the file's schema with what the
migrations make at its revision, structurally (types, names, owning tables, foreign keys; never the SQL
text, which SQLAlchemy and SQLite versions write differently for the same table), and refuses
(foreign_objects) what acts on the app's own reads and writes:

- triggers and views: none (no migration makes one; a view can be written through only by a trigger,
  but it is code in the file all the same);
- virtual tables (their module's code runs on every read and write), even under an expected name;
- foreign keys on the revision's tables (no migration makes one; ON DELETE CASCADE, SET NULL or SET
  DEFAULT would change the app's rows on its own writes, as the app turns foreign keys on);
- a conflict clause (ON CONFLICT REPLACE deletes a row on the app's plain INSERT, IGNORE drops the
  app's row) in the definition of one of the revision's tables: no migration writes one, in any
  SQLAlchemy version, so finding the keywords ON CONFLICT among its SQL's tokens is safe (read as SQLite
  reads them, checkproc.sql_words: a comment, whitespace or case between them cannot hide them, finding
  U1, and a quoted name or a string is never taken for a keyword);
- any type SQLite itself does not make (only a hand edit of sqlite_master makes one).

Ordinary tables, indexes and columns JobMatcher did not make are allowed (unknown_objects lists them):
they run no code, a user may have added their own, and refusing them would stop every backup of such
data. SQLite's own objects (sqlite_sequence, sqlite_stat1-4, sqlite_autoindex_<table>_<n>) are allowed
by type and name, never a trigger or view named like them. The definitions of the revision's tables
are also compared as SQLite reads them (SHAPES: which column is the row id, each column's affinity, no
generated column under the app's names), never as text. What is not compared: a UNIQUE, NOT NULL, CHECK,
COLLATE or DEFAULT changed under the same names: those can make the app's writes fail, visibly, or give a
new row another default, not change or delete rows. Missing tables are
refused by the tables check (verify.py).

This module is data and comparison only: the facts come from the check's one read of the schema
(checkproc.schema_facts, in the check's child or in this process), or from `facts(conn)`.
"""

from __future__ import annotations

import sqlite3

from .checkproc import INTERNAL_TABLE  # one pattern for both (checkproc imports nothing of the package)

# What each revision's migrations make (besides SQLite's own objects), derived from the real Alembic
# upgrades by tests/test_schemaguard.py, which fails saying what to write here when a migration changes.
# Kept by hand so that no check imports Alembic. {revision: {table: (columns, indexes)}}
_T = dict[str, tuple[frozenset[str], frozenset[str]]]
_0001: _T = {
    "alembic_version": (frozenset({"version_num"}), frozenset()),
    "skills": (frozenset({"id", "name", "level", "created_at"}), frozenset({"ix_skills_name"})),
    "user_preferences": (frozenset({"key", "value", "updated_at"}), frozenset()),
    "user_profile": (
        frozenset({"id", "full_name", "headline", "email", "location", "summary", "updated_at"}),
        frozenset(),
    ),
}
_0002: _T = {
    **_0001,
    "skills": (
        frozenset({"id", "name", "level", "created_at", "years_experience"}),
        frozenset({"ix_skills_name"}),
    ),
    "saved_jobs": (
        frozenset({"id", "title", "company", "location", "url", "description", "status", "saved_at"}),
        frozenset({"ix_saved_jobs_company", "ix_saved_jobs_status_saved_at"}),
    ),
}
EXPECTED: dict[str, _T] = {"0001_initial": _0001, "0002_saved_jobs": _0002}

# How each revision's tables keep their rows, as SQLite (not the SQL text) says it, derived from the real
# Alembic upgrades by the same test: {revision: {table: (the column that is the row id or "", {column:
# affinity})}}. A table whose `id` is no longer its row id (INT PRIMARY KEY, WITHOUT ROWID, ...) makes the id
# the app reports for a new row (lastrowid) another row's id, so a later edit or delete of it hits that row;
# a column of another affinity changes what the app saves ('007' into 7); a generated one is not the app's.
_S = dict[str, tuple[str, dict[str, str]]]
_TEXTS = ("full_name", "headline", "email", "location", "summary", "updated_at")
_S0001: _S = {
    "alembic_version": ("", {"version_num": "TEXT"}),
    "skills": ("id", {"id": "INTEGER", "name": "TEXT", "level": "INTEGER", "created_at": "TEXT"}),
    "user_preferences": ("", {"key": "TEXT", "value": "TEXT", "updated_at": "TEXT"}),
    "user_profile": ("id", {"id": "INTEGER", **dict.fromkeys(_TEXTS, "TEXT")}),
}
_S0002: _S = {
    **_S0001,
    "skills": ("id", {**_S0001["skills"][1], "years_experience": "INTEGER"}),
    "saved_jobs": (
        "id",
        {
            "id": "INTEGER",
            **dict.fromkeys(("title", "company", "location", "url", "description", "status", "saved_at"), "TEXT"),
        },
    ),
}
SHAPES: dict[str, _S] = {"0001_initial": _S0001, "0002_saved_jobs": _S0002}

_AUTOINDEX = "sqlite_autoindex_"


def autoindex_table(name: str) -> str | None:
    """The table of SQLite's own index `name` (sqlite_autoindex_TABLE_N: a UNIQUE or PRIMARY KEY constraint's),
    else None: what fullmatch(r"sqlite_autoindex_(.+)_[0-9]+") gives as its group, without compiling a pattern
    when the module loads (on every check's clock). Never raises."""
    if not name.startswith(_AUTOINDEX):
        return None
    table, sep, number = name[len(_AUTOINDEX) :].rpartition("_")
    return table if sep and table and number.isascii() and number.isdigit() else None


_WORDS = {"trigger": "a trigger", "view": "a view", "table": "a table", "index": "an index"}


class Foreign(tuple[str, str, str]):
    """One schema object JobMatcher did not make: `kind` trigger, view, virtual-table, conflict-clause,
    foreign-key, table, index or column; `name` its name; `table` the table it belongs to ("" when none).
    An immutable (kind, name, table) tuple, equal to a tuple of the same three; a NamedTuple made the same, but
    typing builds one in about 0.5-1 ms (its field annotations, strings here, compiled one by one), when this
    module loads, on every check's clock (issue 13)."""

    __slots__ = ()

    def __new__(cls, kind: str, name: str, table: str = "") -> Foreign:
        return tuple.__new__(cls, (kind, name, table))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    @property
    def table(self) -> str:
        return self[2]

    def __repr__(self) -> str:
        return f"Foreign(kind={self[0]!r}, name={self[1]!r}, table={self[2]!r})"

    def words(self) -> str:
        """The object in the user's words: "a trigger 'wipe'", "a column 'x' in the table 'skills'"."""
        if self.kind == "virtual-table":
            return f"a virtual table {self.name!r}"
        if self.kind == "column":
            return f"a column {self.name!r} in the table {self.table!r}"
        if self.kind == "conflict-clause":
            return f"a rule in the table {self.name!r} that replaces or drops rows on a conflict (ON CONFLICT)"
        if self.kind == "row-id":
            return f"a table {self.name!r} whose ids are not its row ids (an edit could reach another row)"
        if self.kind == "column-kind":
            return (
                f"a column {self.name!r} in the table {self.table!r} defined to keep other values than "
                "JobMatcher's (it could change what you save)"
            )
        if self.kind == "foreign-key":
            return f"a link from the table {self.table!r} to {self.name!r} (a foreign key)"
        if self.kind == "index" and self.table:
            return f"an index {self.name!r} on {self.table!r}"
        return f"{_WORDS.get(self.kind, 'an object')} {self.name!r}"


def foreign_objects(revision: str, facts: dict) -> list[Foreign]:
    """The objects in `facts` (checkproc.schema_facts' shape) that JobMatcher did not make and that act on the
    app's own reads and writes: triggers, views, virtual tables, foreign keys declared on the revision's tables,
    and any type SQLite itself does not make; [] when there are none or the revision is not one this app ships
    (a newer app's schema cannot be judged). Never raises for any JSON-shaped input of that form."""
    expected = EXPECTED.get(revision)
    if expected is None:
        return []
    # SQLite's names are case-insensitive (ASCII): "Skills" is the table skills, spelt otherwise
    tables = {t.lower() for t in expected}
    found: list[Foreign] = []
    for kind, name, table, virtual, conflict in facts.get("objects", []):
        name, table = str(name), str(table)
        if kind in ("trigger", "view"):
            found.append(Foreign(kind, name, table if kind == "trigger" else ""))
        elif kind == "table" and virtual:
            found.append(Foreign("virtual-table", name))
        elif kind == "table" and conflict and name.lower() in tables:
            found.append(Foreign("conflict-clause", name))
        elif kind not in ("table", "index"):  # a type SQLite does not make (a hand-edited sqlite_master)
            found.append(Foreign(str(kind), name, table))
    for table, refs in facts.get("foreign_keys", {}).items():
        if str(table).lower() in tables:  # a cascade there deletes or changes the app's own rows
            found.extend(Foreign("foreign-key", str(r), str(table)) for r in refs)
    found.extend(_reshaped(SHAPES.get(revision, {}), facts.get("shapes", {})))
    return found


def _reshaped(expected: dict[str, tuple[str, dict[str, str]]], shapes: object) -> list[Foreign]:
    """The revision's tables in `shapes` (schema_facts' "shapes") whose row id or columns' affinity differ
    from what the migrations make, and every generated column of theirs. Never raises."""
    found: list[Foreign] = []
    if not isinstance(shapes, dict):
        return found
    by_name = {str(t).lower(): (str(t), v) for t, v in shapes.items()}
    for table, (alias, columns) in expected.items():
        name, shape = by_name.get(table, ("", None))
        if not isinstance(shape, list) or len(shape) != 2 or not isinstance(shape[1], dict):
            continue  # a missing table: refused by the tables check
        if str(shape[0]).lower() != alias:
            found.append(Foreign("row-id", name))
        for column, got in sorted(shape[1].items(), key=lambda cv: str(cv[0])):
            want = columns.get(str(column).lower())
            if want is None:
                continue  # a column of one's own (unknown_objects)
            plain = isinstance(got, list) and len(got) == 2 and got[1] == 0  # 2, 3: generated, never written
            if not plain or got[0] != want:
                found.append(Foreign("column-kind", str(column), name))
    return found


def unknown_objects(revision: str, facts: dict) -> list[Foreign]:
    """The ordinary tables, indexes and columns in `facts` that the migrations of `revision` did not make (a
    user's own table, an index added by hand). Not refused: they run no code on the app's writes (an extra
    UNIQUE index or NOT NULL column can make a write fail, visibly; it cannot change data). [] for a revision
    this app does not ship. Never raises."""
    expected = EXPECTED.get(revision)
    if expected is None:
        return []
    tables = {t.lower(): {c.lower() for c in cols} for t, (cols, _) in expected.items()}
    indexes = {i.lower(): t.lower() for t, (_, ix) in expected.items() for i in ix}
    found: list[Foreign] = []
    for kind, name, table, virtual, _ in facts.get("objects", []):
        name, table = str(name), str(table)
        if kind == "table" and not virtual and name.lower() not in tables and not INTERNAL_TABLE.fullmatch(name):
            found.append(Foreign("table", name))
        elif kind == "index":
            if autoindex_table(name) != table and indexes.get(name.lower()) != table.lower():
                found.append(Foreign("index", name, table))
    for table, names in facts.get("columns", {}).items():
        known = tables.get(str(table).lower())
        if known is not None:
            found.extend(Foreign("column", c, table) for c in sorted(map(str, names)) if c.lower() not in known)
    return found


def describe(found: list[Foreign], limit: int = 3) -> str:
    """ "a trigger 'wipe'", "a trigger 'wipe' and a view 'v'", "…, and 2 more" (found non-empty)."""
    shown = [f.words() for f in found[:limit]]
    if len(found) > limit:
        return ", ".join(shown) + f", and {len(found) - limit} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def facts(conn: sqlite3.Connection) -> dict:
    """The schema facts of an open connection (the live database, a test's file), in foreign_objects' shape
    (checkproc.schema_facts). Raises sqlite3.Error."""
    from .checkproc import schema_facts

    return schema_facts(conn)
