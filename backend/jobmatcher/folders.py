"""Which folders JobMatcher may use for what: the rules for the data folder, the backup folder and a folder
location (never a system folder, never one inside another's place), read from the folders themselves.

No pydantic here: the backup list checks its folder with these on every run, and must start fast (issue 13).
settings.py re-exports them, beside the Settings model they guard.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import SettingsError
from .fsutil import odd_kind_at, require_utf8_path, user_path

# Folders that belong to the operating system: never a backup folder (nor anything inside them).
_SYSTEM_FOLDERS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/var/spool",
    "/var/run",
    "/snap",
    "/System",
    "/Library",
    "/Applications",
    "/private/etc",
    "/private/var/db",
)


def _system_folders() -> list[Path]:
    found = [Path(p) for p in _SYSTEM_FOLDERS]
    if os.name == "nt":  # pragma: no cover - Windows
        for var in ("SystemRoot", "ProgramFiles", "ProgramFiles(x86)", "ProgramData"):
            if os.environ.get(var):
                found.append(Path(os.environ[var]))
    return found


# Files only a JobMatcher data folder holds (its live database, its id, its instance lock, a restore under
# way). A backup folder holding them is somebody's data folder: its live database would be listed as a
# backup "added by hand", restorable and deletable there (datadir.py names them too).
DATA_FOLDER_FILES = ("jobmatcher.db", ".jobmatcher-folder-id", ".jobmatcher.lock", "restore-journal.json")

# The marker files JobMatcher writes into a chosen backup folder and at the top of a backup location
# (backups.FOLDER_MARKER and locations.client.MARKER_KEY are these). Each folder has one role: a
# backup folder inside a location (or the reverse) mixes the two kinds of manifests, and each side's
# clean-up would take the other's files for its own leftovers (finding G5).
BACKUP_FOLDER_MARKER = ".jobmatcher-backup-folder"
LOCATION_MARKER = ".jobmatcher-location"
# The folder beside a location's marker holding its copies, one folder per data folder (locations.remote.ROOT).
LOCATION_COPIES = "JobMatcher"


def _role_of(folder: Path) -> str | None:
    """What JobMatcher uses `folder` for, going by the files only it writes there; None for none of them.

    One of "data folder", "backup location" or "backup folder" (in that order of precedence).
    """
    if _data_folder_file(folder):
        return "data folder"
    for name, role in ((LOCATION_MARKER, "backup location"), (BACKUP_FOLDER_MARKER, "backup folder")):
        try:
            if os.path.lexists(folder / name):
                return role
        except OSError:
            continue
    return None


def _location_around(folder: Path) -> Path | None:
    """The top of the backup location that `folder` is or lies inside (it holds LOCATION_MARKER), or None."""
    for candidate in (folder, *folder.parents):
        try:
            if os.path.lexists(candidate / LOCATION_MARKER):
                return candidate
        except OSError:
            continue
    return None


def _data_folder_file(folder: Path) -> str | None:
    """The first DATA_FOLDER_FILES name present in `folder`, or None (also when it cannot be read)."""
    for name in DATA_FOLDER_FILES:
        try:
            if os.path.lexists(folder / name):
                return name
        except OSError:
            continue
    return None


def _data_folder_in(folder: Path) -> tuple[Path, str] | None:
    """(the data folder, the file that shows it) when `folder` is, or directly contains, a JobMatcher data
    folder; None otherwise. Only one level down: the backup list reads only the folder's own files."""
    found = _data_folder_file(folder)
    if found:
        return folder, found
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False) and (found := _data_folder_file(Path(e.path))):
                        return Path(e.path), found
                except OSError:
                    continue
    except OSError:
        pass
    return None


# Folders whose contents the system makes up (per process: /proc/self/cwd is each program's own working
# folder; virtual: /sys, /dev): a path through them is no place, even when it resolves to one now (V8).
_VIRTUAL_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _through_virtual(path: Path) -> tuple[Path | None, Path] | None:
    """(the last link's target on the way, None when no link was followed; the virtual folder) when `path`, or
    a symbolic link on the way to the folder it names, lies in /proc, /sys or /dev; None otherwise (also on
    other systems, for a loop or an unreadable link: the caller's own checks say why). Links are followed one
    by one, as the system does, because the magic links in /proc must not be resolved: they name what the
    asking process sees."""
    if os.name != "posix":
        return None
    pending = list(Path(os.path.abspath(path)).parts)
    here = Path(pending.pop(0))
    hops = 0
    last: Path | None = None
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            here = here.parent
            continue
        here = here / name
        parts = here.parts  # absolute: the virtual folder itself or a folder inside it starts with its parts
        for virtual in _VIRTUAL_FOLDERS:  # (`here == virtual or virtual in here.parents`, without a Path per parent)
            if parts[: len(virtual.parts)] == virtual.parts:
                return last, virtual
        try:
            target = os.readlink(here)
        except (OSError, ValueError):  # not a link (or not there yet): go on below it
            continue
        hops += 1
        if hops > 40:
            return None
        t = Path(target)
        last = Path(os.path.normpath(here.parent / t))
        pending = list(t.parts[1:] if t.is_absolute() else t.parts) + pending
        here = Path(t.anchor) if t.is_absolute() else here.parent
    return None


def _system_folder_said(what: str, p: Path, system: Path) -> str:
    """Says "… /etc is a system folder." or "… /etc/jm is inside the system folder /etc." Never raises."""
    return f"{what} {p} is a system folder." if p == system else f"{what} {p} is inside the system folder {system}."


def check_backup_folder(
    folder: Path,
    data_dir: Path,
    what: str = "The backup folder",
    hint: str | None = None,
    page_hint: str | None = None,
    allow_default: bool = True,
) -> Path:
    """The backup folder `folder` resolved, or SettingsError when it must never hold backups.

    Refused: the data folder itself, a folder inside it (except its default `<data>/backups`, when
    `allow_default`), a parent of it, the root of a disk, a system folder (or inside one), and a
    file, and a folder that is (or directly contains) another JobMatcher data folder (DATA_FOLDER_FILES:
    its live database must never be listed, restored or deleted as a backup). Symlinks are resolved
    first, so a link to one of those counts as that. A folder that does
    not exist yet is accepted here (it is created when the first backup is made). Checked every time
    the folder is used, including when it comes from settings.json, which anyone can edit or copy.
    The same rules hold for a backup location's folder (`what`, `hint` and `page_hint` word them).
    """
    p = user_path(folder, what)
    hint = hint or (
        "Choose another backup folder with `jobmatcher settings --backup-dir FOLDER` (or "
        "`jobmatcher settings --default-backup-dir` for the default <data folder>/backups)."
    )
    page_hint = page_hint or (
        "Choose another backup folder, or leave the field empty for the default (<data folder>/backups)."
    )
    if not p.is_absolute():
        raise SettingsError(f"{what} must be a full path, not {str(folder)!r}.", hint, page_hint)
    if (virtual := _through_virtual(p)) is not None:  # before resolving: /proc/self/cwd resolves to a real folder
        link_to, system = virtual
        said = (
            _system_folder_said(what, p, system)
            if link_to is None
            else f"{what} {p} leads into {link_to}, inside the system folder {system}."
        )
        raise SettingsError(
            f"{said} What is there is made up by the system for each program (another folder to each one), "
            "so it is no place to keep files.",
            hint,
            page_hint,
        )
    try:
        p = p.resolve()
        data = Path(data_dir).expanduser().absolute().resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop
        raise SettingsError(f"{what} {folder} cannot be used: {e}.", hint, page_hint) from None
    if p == data:
        raise SettingsError(f"{what} {p} is the data folder itself, where your live database is.", hint, page_hint)
    if data in p.parents and not (allow_default and p == data / "backups"):
        raise SettingsError(f"{what} {p} is inside the data folder {data}.", hint, page_hint)
    if p in data.parents:
        raise SettingsError(f"{what} {p} contains the data folder {data}.", hint, page_hint)
    if p == Path(p.anchor):
        raise SettingsError(f"{what} cannot be the top of a disk ({p}).", hint, page_hint)
    if p.exists() and not p.is_dir():  # first: "/etc/passwd is a system folder" would be wrong twice (L15)
        raise SettingsError(f"{what} {p} is a file, not a folder.", hint, page_hint)
    parents = set(p.parents)  # once: this runs every time the backup folder is used
    for system in _system_folders():
        if p == system or system in parents:
            raise SettingsError(_system_folder_said(what, p, system), hint, page_hint)
    if what == "The backup folder" and (location := _location_around(p)) is not None:
        relation = "is" if location == p else f"is inside {location}, which is"
        cause = ""
        if location != p and p.relative_to(location).parts[0] == LOCATION_COPIES:
            # the location's own folder of copies (a data folder's JobMatcher/<id>): no backup folder made a
            # location, so nothing to move; moving the marker would strand every data folder's copies (X2)
            cause = " That folder holds the location's copies: leave it as it is."
        elif _holds_backups(p):  # it was a backup folder before another data folder made it a location (L3)
            cause = (
                " It holds backups, so another JobMatcher data folder (or an older JobMatcher) probably added it "
                f"as its backup location: remove that location there, and move {LOCATION_MARKER} and the "
                "JobMatcher folder it made out of this folder; your backups here are untouched."
            )
        raise SettingsError(
            f"{what} {p} {relation} a backup location (it holds {LOCATION_MARKER}): the copies there and your "
            f"backups would be mixed up, and each could be taken for the other's leftovers.{cause}",
            hint,
            page_hint,
        )
    if p.is_dir() and (other := _data_folder_in(p)) is not None:
        where, name = other
        lead = f"{what} {p} is" if where == p else f"{what} {p} contains"
        holder = "it" if where == p else str(where)
        if allow_default and p == data / "backups":
            # The default folder itself looks like a data folder: a stray file, made there by starting
            # JobMatcher with this folder as its data folder. Choosing "the default" again cannot help.
            stray = where / name
            raise SettingsError(
                f"{what} {p} holds {stray}, which makes it look like another JobMatcher data folder: its "
                "database would be shown as a backup there, and could be deleted or restored over.",
                f"Move {stray} (and any other jobmatcher.db, .jobmatcher-folder-id or settings.json beside "
                "it) out of the backup folder: it was made by starting JobMatcher with that folder as its "
                "data folder. Then try again.",
                f"Move {stray} out of the backup folder (it was made by starting JobMatcher with that "
                "folder as its data folder), then try again.",
            )
        raise SettingsError(
            f"{lead} another JobMatcher data folder ({holder} holds {name}): its live database "
            "would be shown as a backup there, and could be deleted or restored over.",
            hint,
            page_hint,
        )
    return p


def check_location_folder(folder: Path, backup_folder: Path) -> None:
    """SettingsError when a folder location at `folder` would share its place with a backup folder.

    Refused: the backup folder `backup_folder` itself, a folder inside it or containing it, and any folder
    that is, lies inside or directly contains another backup folder (BACKUP_FOLDER_MARKER, of this or
    another data folder). The location's marker would make that backup folder "a backup location" to
    check_backup_folder, and its backups would stop (finding H4, the reverse of G5).
    """
    hint = "Choose a folder of its own for the copies: on another drive, a network share or a synced folder."
    try:
        p = Path(folder).resolve()
        b = Path(backup_folder).resolve()
    except (OSError, RuntimeError, ValueError):
        return  # a loop or an unreadable path: check_backup_folder has said why already
    if p == b:
        raise SettingsError("That is the backup folder itself.", hint)
    if b in p.parents:
        raise SettingsError(f"The location's folder {p} is inside the backup folder {b}.", hint)
    if p in b.parents:
        raise SettingsError(f"The location's folder {p} contains the backup folder {b}.", hint)
    for candidate in (p, *p.parents):
        if os.path.lexists(candidate / BACKUP_FOLDER_MARKER):
            where = "is" if candidate == p else f"is inside {candidate}, which is"
            raise SettingsError(f"The location's folder {p} {where} a JobMatcher backup folder.", hint)
    # A folder holding JobMatcher backups has no marker when it is a data folder's default backup folder, or a
    # plain location's copies folder: found by its backups (manifests beside their databases; L3, L4).
    for candidate in (p, *p.parents):
        if _holds_backups(candidate):
            where = "holds" if candidate == p else f"is inside {candidate}, which holds"
            raise SettingsError(
                f"The location's folder {p} {where} JobMatcher backups (another data folder's backup folder, or "
                "another location's copies): the location's files there would stop those backups.",
                hint,
            )
    # Inside another backup location (below its marker): its copies would be mixed with this location's (L4).
    if p.parent != p and (around := _location_around(p.parent)) is not None:
        raise SettingsError(f"The location's folder {p} is inside {around}, which is a backup location.", hint)
    try:
        with os.scandir(p) as entries:
            for e in entries:
                if not e.is_dir(follow_symlinks=False):
                    continue
                sub = Path(e.path)
                if is_backup_folder(sub):
                    raise SettingsError(
                        f"The location's folder {p} contains a JobMatcher backup folder, {e.path}.", hint
                    )
                if os.path.lexists(sub / LOCATION_MARKER):
                    raise SettingsError(f"The location's folder {p} contains a backup location, {e.path}.", hint)
    except OSError:
        pass


def _holds_backups(folder: Path) -> bool:
    """True when `folder` directly holds a JobMatcher backup: a manifest backup_*.json beside its database
    (backup_*.db, or an encrypted copy's backup_*.db.age). Never raises (an unreadable folder: False)."""
    try:
        with os.scandir(folder) as entries:
            names = {e.name for e in entries}
    except OSError:
        return False
    return any(
        n.startswith("backup_") and n.endswith(".json") and ({n[:-5] + ".db", n[:-5] + ".db.age"} & names)
        for n in names
    )


# How many data folders' folders of copies holds_location_copies looks into at most (a location shared by a few).
_MOST_COPY_FOLDERS = 16


def holds_location_copies(folder: Path) -> bool:
    """True when `folder` holds a backup location's copies, its marker there or not: a LOCATION_COPIES folder
    with a data folder's folder (32 hexadecimal digits) that holds a copy (its manifest beside its data,
    _holds_backups). The copies' manifests identify a location's folder whose marker was lost (copied without
    its hidden files, or by a sync tool that skips them). Looks into at most _MOST_COPY_FOLDERS folders; links
    are not followed. Never raises (an unreadable folder: False)."""
    try:
        with os.scandir(Path(folder) / LOCATION_COPIES) as entries:
            subs = [
                Path(e.path)
                for e in entries
                if len(e.name) == 32
                and all(c in "0123456789abcdef" for c in e.name)
                and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return False
    return any(_holds_backups(sub) for sub in sorted(subs)[:_MOST_COPY_FOLDERS])


def is_backup_folder(folder: Path) -> bool:
    """True when `folder` is a JobMatcher backup folder (its marker) or directly holds backups with their
    manifests (one made before markers, or another data folder's default `backups`). Never raises."""
    try:
        if os.path.lexists(Path(folder) / BACKUP_FOLDER_MARKER):
            return True
    except OSError:
        return False
    return _holds_backups(Path(folder))


def data_folder_is_ours(folder: Path) -> bool:
    """True when `folder` plainly is a JobMatcher data folder: it holds jobmatcher.db or .jobmatcher-folder-id."""
    return any(os.path.lexists(Path(folder) / name) for name in ("jobmatcher.db", ".jobmatcher-folder-id"))


def check_data_folder(folder: Path) -> None:
    """Raise SettingsError when `folder` (an absolute path, existing or not) must never be a data folder.

    Refused: the top of a disk, a system folder (or inside one), the user's home folder itself, a file,
    and an existing folder with the sticky bit or open for every user to write in (like /tmp) unless it
    plainly is a JobMatcher data folder already (non-sticky). JobMatcher makes its data folder private
    (0700): done to /tmp, a home folder or a shared folder, that would lock other users and services out.
    Also refused: a folder that is a backup folder or a backup location, or lies inside a data folder, a
    backup folder or a location (finding G13: `--data-dir <data>/backups` made a database in the backup
    folder, and from then on every backup and restore of the real data was refused). Symlinks are
    resolved first.
    """
    hint = "Choose a folder of its own for your data (a new one is made for you), e.g. --data-dir ~/JobMatcher."
    page_hint = "Start JobMatcher with a folder of its own for your data."
    try:
        p = Path(folder).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop
        raise SettingsError(f"The data folder {folder} cannot be used: {e}.", hint, page_hint) from None
    if p == Path(p.anchor):
        raise SettingsError(f"The data folder cannot be the top of a disk ({p}).", hint, page_hint)
    if p.exists() and not p.is_dir():
        raise SettingsError(f"The data folder {p} is a file, not a folder.", hint, page_hint)
    for system in _system_folders():
        if p == system or system in p.parents:
            raise SettingsError(_system_folder_said("The data folder", p, system), hint, page_hint)
    try:
        home = Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        home = None
    own_role = _role_of(p)
    if own_role in ("backup folder", "backup location"):
        raise SettingsError(
            f"The data folder {p} is a JobMatcher {own_role}: your data and its backups must be kept apart.",
            hint,
            page_hint,
        )
    for parent in p.parents:
        if parent == Path(parent.anchor):
            break
        role = _role_of(parent)
        if role is not None:
            raise SettingsError(
                f"The data folder {p} is inside a JobMatcher {role} ({parent}): a data folder there would be "
                f"taken for part of that {role}, and would stop its backups from being made.",
                hint,
                page_hint,
            )
    if home is not None and p == home and home != Path(home.anchor):
        raise SettingsError(
            f"The data folder {p} is your home folder itself: JobMatcher would close it to "
            "everyone else and keep its files among yours.",
            hint,
            page_hint,
        )
    try:
        st = p.stat()
    except FileNotFoundError:
        return  # a new folder: it is created private
    except OSError:
        return  # unreadable: opening it reports why
    if not stat.S_ISDIR(st.st_mode):
        raise SettingsError(f"The data folder {p} is a file, not a folder.", hint, page_hint)
    if st.st_mode & stat.S_ISVTX or (st.st_mode & 0o002 and not data_folder_is_ours(p)):
        raise SettingsError(
            f"The data folder {p} is shared by every user of this computer (like /tmp): "
            "your data would be open to them, and making it private would lock them out.",
            hint,
            page_hint,
        )


def odd_marker_error(folder: Path, kind: str) -> SettingsError:
    """The refusal (returned) to choose `folder` as the backup folder when `kind` ("a pipe", "a folder": what
    fsutil.other_kind says) is at its marker's name (D14): the user's, never replaced by the marker. Never raises."""
    marker = Path(folder) / BACKUP_FOLDER_MARKER
    return SettingsError(
        f"The backup folder {folder} cannot be marked as yours: {BACKUP_FOLDER_MARKER} in it is {kind}, not the "
        "marker file JobMatcher writes there. Nothing was changed.",
        f"Move {marker} out of that folder (JobMatcher does not delete or replace what it did not make), then "
        "choose the folder again.",
        code="backup-marker-not-a-file",
        path=str(marker),
    )


def validate_backup_dir(folder: str, data_dir: Path) -> Path:
    """Check a folder the user wants backups in: it exists, is writable, check_backup_folder accepts it, and
    nothing but a regular file (or nothing) is at its marker's name (odd_marker_error: a pipe, a device, a folder
    or a link there is the user's, D14). Returns it as a Path; raises SettingsError saying which is not so."""
    p = user_path(folder, "The backup folder")
    require_utf8_path(p, "The backup folder")  # kept in settings.json: it must come back exactly (X27)
    if not p.is_absolute():
        raise SettingsError(
            f"The backup folder must be a full path, not {folder!r}.",
            "Choose the folder with the folder picker or type its full path.",
        )
    p = check_backup_folder(p, data_dir)
    if not p.is_dir():
        raise SettingsError(f"The backup folder {p} does not exist.", "Create it first, or choose another folder.")
    if not os.access(p, os.W_OK | os.X_OK):
        raise SettingsError(f"The backup folder {p} is not writable.", "Choose a folder your user can write to.")
    kind = odd_kind_at(p / BACKUP_FOLDER_MARKER)  # None: a file, none yet, or not looked at (writing it says why)
    if kind is not None:
        raise odd_marker_error(p, kind)
    return p
