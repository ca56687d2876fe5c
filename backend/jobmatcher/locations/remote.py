"""What JobMatcher keeps at a location, and how a copy is fetched back and proven sound.

Layout under the location's root (a folder, or a bucket's prefix):

    .jobmatcher-location                   marker: this is a JobMatcher location
    JobMatcher/<data-folder id>/identity.age           the identity, locked with the passphrase
    JobMatcher/<data-folder id>/writer.json            which computer writes there now (after a recovery)
    JobMatcher/<data-folder id>/backup_<UTC time>.db.age   an encrypted copy (".db": not encrypted)
    JobMatcher/<data-folder id>/backup_<UTC time>.json     its location manifest

Each data folder writes and deletes only under its own id, so a location shared
by two machines or two data folders keeps them apart. A location manifest
holds only what a restore needs before decrypting and what retention needs:
time, kind, sizes, the checksums of the stored bytes and of the database, the
schema revision, and whether the backup is pinned (so a pin travels with the copy to a
computer that recovers from it). No note, no name. A copy is listed only when its manifest and
its data are both there: the manifest is written after the data is checked, and a copy is deleted
after a marker `<id>.deleting` is written, data first, manifest last, marker after: a delete cut short
leaves a manifest alone (never listed) with its marker, which the next sync removes (manager:
Locations._finish_deletes). A lone half without a marker (a copy still arriving in a synced folder, or
left by an older version) is never deleted: only counted as space used.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shlex
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..errors import (
    BackupNotFoundError,
    JobMatcherError,
    LocationCopyFailedError,
    LocationUnavailableError,
    TamperedCopyError,
    UnencryptedCopyError,
    WrongPassphraseError,
)
from ..errors import ValidationError as InputError
from ..folders import LOCATION_COPIES, holds_location_copies
from ..fsutil import remove_quietly
from ..manifest import MAX_MANIFEST_BYTES, BackupType, ByteCount, Flag, FormatNumber, Sequence, UtcDatetime
from ..progress import Progress, ignore
from .client import LocationClient
from .crypto import decrypt_file, is_recovery_key, unlock_identity

# Checksums compare as lower-case hex whatever a manifest holds (a tool may rewrite one in capitals).
LowerHex = Annotated[str, AfterValidator(str.lower)]

ROOT = LOCATION_COPIES  # the folder of copies beside the marker (folders.py knows it too: X2)
_FOLDER_ID = re.compile(r"^[0-9a-f]{32}\Z")
_BACKUP_ID = re.compile(r"^backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(_[0-9]{1,3})?\Z")


def _pin_read(value: object) -> object:
    """A copy's recorded pin as read: true, false, or None (not recorded: a copy made by an older version). Any
    other value is a damaged record, and a damaged pin counts as pinned (never delete on doubt). Never raises."""
    return value if value is None or isinstance(value, bool) else True


# A copy's pin as its manifest records it (LocationManifest.pinned).
PinRecord = Annotated[bool | None, BeforeValidator(_pin_read)]

# The name of a copy's data in a data folder's namespace: `backup_<time>.db`, or `.db.age` when encrypted.
DATA_NAME = re.compile(r"^(backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(?:_[0-9]{1,3})?)\.db(\.age)?\Z")


def namespace(folder_id: str) -> str:
    """The key prefix of one data folder's copies: `JobMatcher/<folder id>/`. Never raises."""
    return f"{ROOT}/{folder_id}/"


def identity_key(folder_id: str) -> str:
    """The key of a data folder's locked identity at a location. Never raises."""
    return f"{namespace(folder_id)}identity.age"


def writer_key(folder_id: str) -> str:
    """Which computer writes this data folder's copies there, after a disaster recovery: {"format": 2,
    "generation", "sequence_after", "adoption": its take-over, ranked by the first two (never by a clock),
    "adopted_at": when it took the chain over by its clock (ISO time, shown), "written_at"} (manager._claim;
    format 1 had only the dates). Never raises."""
    return f"{namespace(folder_id)}writer.json"


def computer_key(folder_id: str) -> str:
    """Which computer writes this data folder's copies there: {"format": 1, "computer": its id (computer.py),
    "written_at"}, written by the first computer to copy and by each take-over (manager._claim). Never raises."""
    return f"{namespace(folder_id)}computer.json"


def data_key(folder_id: str, backup_id: str, encrypted: bool) -> str:
    """The key of a copy's data: `<namespace><id>.db`, with `.age` when encrypted. Never raises."""
    return f"{namespace(folder_id)}{backup_id}.db" + (".age" if encrypted else "")


def manifest_key(folder_id: str, backup_id: str) -> str:
    """The key of a copy's location manifest: `<namespace><id>.json`. Never raises."""
    return f"{namespace(folder_id)}{backup_id}.json"


class LocationManifest(BaseModel):
    """Beside each copy: only what restore and retention need, nothing personal."""

    model_config = ConfigDict(extra="ignore")

    # Numbers within the local manifest's bounds (manifest.MAX_FILE_BYTES…): a copy whose manifest is beyond
    # them is not listed, as one with any other invalid value (finding T6).
    format: FormatNumber = 1
    created_at: UtcDatetime  # a zone-less date (an older writer, another tool) is UTC, as in local manifests
    type: BackupType = BackupType.manual
    size_bytes: ByteCount  # the database
    sha256: LowerHex  # of the database
    stored_size: ByteCount  # of the bytes at the location (the ciphertext when encrypted)
    stored_sha256: LowerHex
    encrypted: Flag
    schema_revision: str | None = None
    # The local manifest's order of making (retention.newest_order: "newest" by it, not by a clock that may
    # have been behind); None in copies made by older versions.
    sequence: Sequence | None = None
    # Whether the backup was pinned (recorded when the copy is made, updated by the next sync after a pin or
    # unpin): a computer that recovers from the copies keeps the pinned ones as the lost one did (Z2). None: not
    # recorded (a copy made by an older version, which ignores this field); a damaged value reads as pinned.
    pinned: PinRecord = None


class RemoteBackup(BaseModel):
    """One copy at a location, as `backup list --location` shows it."""

    id: str
    folder_id: str
    created_at: datetime
    type: BackupType
    size_bytes: int
    stored_size: int
    encrypted: bool
    schema_revision: str | None
    sha256: LowerHex
    stored_sha256: LowerHex
    sequence: int | None = None  # the order of making (LocationManifest.sequence)
    # Only backups that passed their check are copied, and each copy was proven identical there: for
    # retention, every copy counts as checked (else the oldest uncopied backup would pass for the newest good).
    verified: bool = True
    # For retention: pinned here (manager._wanted: the local backup of that id's pin when there is one, else the
    # pin recorded at the location). As listed: the pin recorded there (`pin_recorded` True).
    pinned: bool = False
    pin_recorded: bool | None = None  # as the manifest records it (None: not recorded, an older version's copy)
    # Why this copy contradicts itself or another (RENAMED, damaged(); remote_listing), else None: listed so
    # marked, refused by a restore (find_remote).
    doubt: str | None = None
    # Its data there has another size than its manifest says was written (B5): cut short, changed, or still
    # arriving. Never counted as a copy of its backup (a sync replaces it) nor, for retention, as a good one.
    damaged: bool = False


# A copy's name carries the time it was made (backups.backup_name: UTC, to the second) and its manifest that time
# and its place in the order of making: a copy whose manifest names another time was renamed or copied there by
# something else (a sync tool's conflict copy, a folder put back by hand): Z4.
RENAMED = "its own record names another time: renamed or copied there"


def list_remote(client: LocationClient, folder_id: str | None = None) -> list[RemoteBackup]:
    """The complete copies at a location (one data folder's, or every data folder's), newest first (sizes
    in bytes). A manifest that cannot be read (invalid, over MAX_MANIFEST_BYTES: not read at all, as in the
    backup folder; not a regular file), or has no data beside it, is skipped.

    Raises ValidationError when `folder_id` is not a data folder id (32 hexadecimal digits), and
    LocationUnavailableError / LocationCredentialsError when the location cannot be listed or read."""
    return remote_listing(client, folder_id)[0]


def remote_listing(
    client: LocationClient,
    folder_id: str | None = None,
    skipped: list[str] | None = None,
    space: list[int] | None = None,
) -> tuple[list[RemoteBackup], set[str]]:
    """(list_remote's copies, the data folders among theirs whose copies there are known to be encrypted:
    encrypted_there's answer for each), from one listing of the location (`backup list --location` and the
    page's list need both). `skipped`, when given, gets a sentence for each copy left out because its manifest
    there cannot be read (its data is there: not silently hidden, as the local list says, V15e). `space`, when
    given, gets the bytes of every copy's data file there, listed or not (a leftover takes room too). Raises as
    list_remote."""
    if folder_id and not _FOLDER_ID.match(folder_id):
        raise InputError(
            f"{folder_id[:40]!r} is not a data folder id (32 hexadecimal digits).",
            "Use the id exactly as `jobmatcher backup list` with the same location shows it.",
            "Choose the backup from the list again.",
            code="invalid-folder-id",
        )
    prefix = namespace(folder_id) if folder_id else f"{ROOT}/"
    objects = {o.key: o for o in client.list(prefix)}
    # a folder at a copy's file name is no object: said as a pipe or a link there is (FINDINGS20 8)
    folders = client.folders_among(prefix) if skipped is not None else set()
    for key in sorted(folders):
        parts = key.split("/")
        if len(parts) == 3 and key.endswith(".json") and _FOLDER_ID.match(parts[1]) and _BACKUP_ID.match(parts[2][:-5]):
            why = "is a folder, not a file JobMatcher wrote (it was not read)"
            _unreadable(client, objects, parts[1], parts[2][:-5], skipped, why)
    out = []
    for key, info in objects.items():
        parts = key.split("/")
        if len(parts) != 3 or not key.endswith(".json"):
            continue
        fid, bid = parts[1], parts[2][:-5]
        if not _FOLDER_ID.match(fid) or not _BACKUP_ID.match(bid):
            continue
        if info.size > MAX_MANIFEST_BYTES:
            _unreadable(
                client,
                objects,
                fid,
                bid,
                skipped,
                "is far larger than any manifest JobMatcher writes (it was not read)",
            )
            continue
        try:
            m = LocationManifest.model_validate_json(client.get_bytes(key, MAX_MANIFEST_BYTES))
        except FileNotFoundError:
            continue  # deleted meanwhile
        except (ValueError, ValidationError, RecursionError):
            _unreadable(client, objects, fid, bid, skipped, "is unreadable (damaged, or not written by JobMatcher)")
            continue  # not ours to read
        except LocationCopyFailedError:
            _unreadable(client, objects, fid, bid, skipped, "is not a file JobMatcher wrote (it was not read)")
            continue  # not a regular file, or grown past the limit since listed: not a manifest, never read
        data = objects.get(data_key(fid, bid, m.encrypted))
        if data is None:
            if skipped is not None and data_key(fid, bid, m.encrypted) in folders:  # FINDINGS20 8: said, as a pipe
                skipped.append(
                    f"{bid} at {client.describe()} is not listed: a folder is at its data file's name there "
                    f"({data_key(fid, bid, m.encrypted).rsplit('/', 1)[-1]}), not a file JobMatcher wrote, so the "
                    "copy cannot be checked or restored."
                )
            continue  # manifest without data: a delete killed halfway; not a copy
        # the size the listing gives costs nothing to compare: a copy cut short or grown there is known as such
        # at every listing, not only when a restore downloads it (B5)
        damaged = data.size != m.stored_size
        out.append(
            RemoteBackup(
                id=bid,
                folder_id=fid,
                created_at=m.created_at,
                type=m.type,
                size_bytes=m.size_bytes,
                stored_size=m.stored_size,
                encrypted=m.encrypted,
                schema_revision=m.schema_revision,
                sha256=m.sha256,
                stored_sha256=m.stored_sha256,
                sequence=m.sequence,
                pinned=m.pinned is True,
                pin_recorded=m.pinned,
                verified=not damaged,
                doubt=damaged_doubt(data.size, m.stored_size, client.kind == "folder") if damaged else None,
                damaged=damaged,
            )
        )
    if space is not None:  # what the copies' data really take there, leftovers included (Z3)
        space.append(sum(o.size for k, o in objects.items() if DATA_NAME.match(k.rsplit("/", 1)[-1])))
    _mark_doubts(out)
    out = newest_first(out)
    encrypted: set[str] = set()
    for key in objects:
        parts = key.split("/", 2)
        if len(parts) == 3 and _shows_encryption(key, parts[1]):
            encrypted.add(parts[1])
    return out, encrypted & {r.folder_id for r in out}


INTENT_NAME = re.compile(r"^(backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(?:_[0-9]{1,3})?)\.deleting\Z")


def intent_key(folder_id: str, backup_id: str) -> str:
    """The key of the marker a prune writes before deleting a copy (`<namespace><id>.deleting`): proof that a
    lone half of that copy was left by a delete of ours (A2). Never raises."""
    return f"{namespace(folder_id)}{backup_id}.deleting"


def leftovers(client: LocationClient, folder_id: str) -> list[str]:
    """The keys in `folder_id`'s namespace that a delete of ours cut short left (Z3, A2), in the order to delete
    them: only copies whose intent marker (`<id>.deleting`, written by the prune before its first delete) is
    there. For such a copy: its data, then its manifest, then the marker; for one found whole (both halves: the
    marker written, nothing deleted yet) only the marker (the next plan decides anew). A lone half without a
    marker is never among them: it may be a copy still arriving (a synced folder downloading after a disaster
    recovery, a bucket being replicated), not a delete of ours. One listing. Raises the location's errors."""
    ns = namespace(folder_id)
    objects = {o.key for o in client.list(ns)}
    out = []
    for key in sorted(objects):
        m = INTENT_NAME.match(key[len(ns) :])
        if m is None:
            continue
        bid = m.group(1)
        data = [k for k in (data_key(folder_id, bid, True), data_key(folder_id, bid, False)) if k in objects]
        man = manifest_key(folder_id, bid)
        if not (data and man in objects):
            out += data + ([man] if man in objects else [])
        out.append(key)
    return out


def damaged_doubt(found: int, written: int, folder: bool = True) -> str:
    """The doubt of a copy whose data there has `found` bytes where its manifest says `written` were written
    (sizes in bytes), at a folder location (`folder`: it may still be arriving in a synced folder) or not: what
    the list shows. Never raises."""
    why = "damaged, cut short, or still arriving (a synced folder downloading it)" if folder else "damaged or changed"
    return f"it has {found:,} bytes there where {written:,} were written: {why}"


def _mark_doubts(copies: list[RemoteBackup]) -> None:
    """Set `doubt` on each copy whose name's time is not its manifest's created_at (RENAMED). Two copies of one
    data folder that share a sequence are not doubted (A5): a take-over can number its copies into places the
    lost computer's newer copies already hold at a location it did not restore from, and a copy whose name agrees
    with its own record is what it says (its checksums are still checked by a restore). One comparison of two
    strings a copy (no reading). Never raises."""
    for r in copies:
        if r.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S") != r.id[7:26]:
            r.doubt = RENAMED


def refuse_doubtful(client: LocationClient, remote: RemoteBackup) -> None:
    """Refuse restoring a copy listed with the doubt RENAMED (_mark_doubts: it is not what its name says, so
    restoring it could bring back other data than the user chose): TamperedCopyError, reason "renamed". A copy
    doubted as damaged (its size there is not the size written, B5) is left to fetch_verified's refusal, which names
    what is there. Never raises for a copy without a doubt."""
    if remote.doubt is None:
        return
    if remote.doubt != RENAMED:
        # a copy whose size there is not the size written (B5) goes on to the download, whose refusal says what
        # is there precisely (a pipe or a link: not a file JobMatcher wrote; larger: not read past the size written;
        # shorter: the two sizes), before anything is decrypted or replaced
        return
    made = remote.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    day, clock = remote.id[7:26].split("_")
    named = f"{day} {clock.replace('-', ':')}"
    why = (
        f"its name says it was made at {named} UTC, but its own record says {made}: it was renamed or copied "
        "there by something other than JobMatcher (a sync tool's conflict copy, a folder put back by hand), "
        "and may hold other data than its name says"
    )
    raise TamperedCopyError(
        f"The copy {remote.id} at {client.describe()} is not restored: {why}. Nothing was changed.",
        "Choose another copy: the list marks such copies (the copy its record describes may be there under its "
        "own name).",
        "Choose another copy: the list marks such copies.",
        reason="renamed",
        id=remote.id,
    )


def _unreadable(client: LocationClient, objects: dict, fid: str, bid: str, skipped: list[str] | None, why: str) -> None:
    """Say in `skipped` (when given) that copy `bid` of data folder `fid` is left out because its manifest `why`
    ("is unreadable …"), when its data is there (a manifest alone is a delete killed halfway). Never raises."""
    if skipped is not None and any(data_key(fid, bid, e) in objects for e in (True, False)):
        skipped.append(
            f"{bid} at {client.describe()} is not listed: its manifest there {why}, so the copy cannot be checked "
            "or restored."
        )


def newest_first(copies: list[RemoteBackup], now: datetime | None = None) -> list[RemoteBackup]:
    """`copies` newest first in the order of making, not by a clock (V11): each data folder's copies by their
    sequence (listing.newest_order: copies of older versions, without one, below, then by date), as "newest"
    is decided locally; a copy made while the clock was ahead is not put on top of the copies made after it.
    Several data folders' lists follow each other, the one with the latest copy dated up to `now` (UTC;
    default: the present) first. Never raises."""
    from ..listing import newest_order

    now = now or datetime.now(timezone.utc)
    chains: dict[str, list[RemoteBackup]] = {}
    for r in copies:
        chains.setdefault(r.folder_id, []).append(r)
    for chain in chains.values():
        chain.sort(key=lambda r: (newest_order(r), r.id), reverse=True)

    def latest(fid: str) -> tuple:
        dated = [r.created_at for r in chains[fid] if r.created_at <= now]
        return (bool(dated), max(dated) if dated else chains[fid][0].created_at, fid)

    return [r for fid in sorted(chains, key=latest, reverse=True) for r in chains[fid]]


# A copy dated this far after the clock is "in the future" (as `backup list --location` and the page mark them).
FUTURE_AFTER_SECONDS = 3600


def clock_check(copies: list[RemoteBackup], now: datetime | None = None) -> tuple[set[str], str | None]:
    """Which of `copies` to mark as dated in the future (ids), and a sentence when this computer's clock is the
    likely wrong one (X15), for a recovery's list.

    The newest copy of a data folder in the order of making (its highest sequence) was made last: when even it
    is dated after this computer's clock, the clock here is most likely behind (a new computer not yet set, a
    dead clock battery), or the computer that made it was ahead; the copies are not wrong, they are offered as
    any, and the sentence says so with both times. A copy is marked only when it is dated after both this
    clock and the newest copy of its data folder (made while a clock was ahead, V11). Never raises."""
    from datetime import timedelta

    now = now or datetime.now(timezone.utc)
    slack = timedelta(seconds=FUTURE_AFTER_SECONDS)
    newest: dict[str, RemoteBackup] = {}
    for r in newest_first(copies, now):
        newest.setdefault(r.folder_id, r)  # newest_first: each data folder's list starts with its last copy
    ahead = [r.created_at for r in newest.values() if r.created_at > now + slack]
    reference = max([now, *ahead])
    marked = {r.id for r in copies if r.created_at > max(reference, newest[r.folder_id].created_at) + slack}
    if not ahead:
        return marked, None
    return marked, (
        f"This computer's clock says {now:%Y-%m-%d %H:%M} UTC, but the newest copy here was made "
        f"{max(ahead):%Y-%m-%d %H:%M} UTC (by the clock of the computer that made it): this computer's clock may "
        "be behind (or that computer's was ahead). The copies can be restored all the same; set this computer's "
        "date and time right, so that its new backups are dated right."
    )


def check_source(client: LocationClient, configured: bool, backup_id: str | None = None) -> bool:
    """Check a place before listing or fetching copies there; False when it holds no JobMatcher copies at all.

    A configured location without its marker is a problem (an unplugged drive's empty mount point: it
    raises LocationUnavailableError, reason "no-marker"); a folder or bucket the user only looks into
    (restoring on a new computer) simply has no copies: no location to remove, nothing to catch up. A folder
    looked into that is a JobMatcher *backup folder* (an old one on a USB drive) holds backups restored by
    their file, not copies: ValidationError, code "backup-folder-not-location", naming the file of
    `backup_id` when it is there (L25).
    """
    try:
        client.check()
    except LocationUnavailableError as e:
        reason = getattr(e, "reason", "")
        if reason == "marker-missing":
            # copies there (their manifests say so), the marker lost: a folder copied without its hidden files, or
            # by a sync tool that skips them (FINDINGS20 1). Only read here, each copy proven by its checksums when
            # restored: listed and restored as with the marker, a configured location's as well; nothing is
            # written there (a sync still refuses it, and says how to write the marker again).
            return True
        if configured or reason != "no-marker":
            raise
        elsewhere = copies_elsewhere(client)
        if elsewhere is not None:  # JobMatcher's layout above or below the place given (V4)
            raise elsewhere from None
        root = getattr(client, "root", None)
        if root is not None:
            from ..settings import is_backup_folder

            if is_backup_folder(root):
                raise _backup_folder_not_location(Path(root), backup_id) from None
        # S3 storage (or a folder whose copies are only manifests yet): its copies are read by their manifests,
        # the marker there or not (FINDINGS20 1): listed, and each proven by its checksums when restored
        return _copies_listed(client)
    return True


def _copies_listed(client: LocationClient) -> bool:
    """Whether a listing of `client` shows a copy's manifest in JobMatcher's layout (`JobMatcher/<data folder
    id>/backup_<time>.json`). Raises the location's errors."""
    for o in client.list(f"{ROOT}/"):
        parts = o.key.split("/")
        if len(parts) == 3 and _FOLDER_ID.match(parts[1]) and parts[2].endswith(".json"):
            if _BACKUP_ID.match(parts[2][:-5]):
                return True
    return False


# How far below a folder given for disaster recovery its location is looked for: folders two levels down (a
# drive's folder holding the location's folder), at most this many folders looked into (a home folder).
_BELOW_DEPTH = 2
_BELOW_FOLDERS = 256
# At most this many keys of a bucket are looked at for a location under a prefix (one listing request).
_BELOW_KEYS = 1000


def copies_elsewhere(client: LocationClient) -> InputError | None:
    """The refusal (returned, for the caller to raise) for a place looked into for copies that is not a backup
    location itself but lies inside one (the `JobMatcher` folder, or a data folder's folder of copies beneath
    it: where the `.db.age` files are, a natural place to point at) or holds one below it (a drive's folder,
    a bucket without its prefix): code "copies-elsewhere", naming the place to give instead (`place`, and the
    data folder's id when the place given was its folder of copies). None when neither. Never raises: this is
    only advice (a place that cannot be looked into is said by the caller's own error)."""
    try:
        found = _layout_around(client)
    except Exception:  # noqa: BLE001 - advice only; the place's own refusal stands
        return None
    if found is None:
        return None
    inside, places, folder_id = found
    given = client.describe()
    kind = "folder" if getattr(client, "root", None) is not None else "bucket and prefix"
    shown = " or ".join(places[:3])
    if inside:
        message = (
            f"{given} is inside the backup location {shown}: the copies there are listed and restored from the "
            "location itself."
        )
    else:
        message = f"{given} is not a backup location, but it holds one: {shown}."
    extra = f" (the copies of data folder {folder_id} are there)" if folder_id else ""
    return InputError(
        message,
        f"Give {shown} instead{extra}.",
        f"Choose the {kind} {shown} instead{extra}.",
        code="copies-elsewhere",
        place=places[0],
        folder_id=folder_id,
    )


def _layout_around(client: LocationClient) -> tuple[bool, list[str], str | None] | None:
    """(inside, the locations' places, the data folder's id when the place given is its folder of copies) for
    JobMatcher's layout (the marker beside a `JobMatcher` folder) above or below the place `client` looks
    into; None when there is none. Raises what looking raises (the caller ignores it)."""
    from .client import MARKER_KEY

    root = getattr(client, "root", None)
    if root is not None:
        here = Path(root)
        parts = here.parts
        up, fid = _above(list(parts))
        # the marker above, or the copies a location's folder holds (its marker lost: FINDINGS20 1)
        if up is not None and ((Path(*up) / MARKER_KEY).is_file() or holds_location_copies(Path(*up))):
            return True, [str(Path(*up))], fid
        below = _folders_below(here, MARKER_KEY)
        return (False, below, None) if below else None
    bucket, prefix = getattr(client, "bucket", None), getattr(client, "prefix", None)
    if bucket is None or prefix is None:
        return None
    up, fid = _above(prefix.split("/") if prefix else [])
    if up is not None:
        there = _with_prefix(client, "/".join(up))
        try:
            there.get_bytes(MARKER_KEY)
            return True, [there.describe()], fid
        except FileNotFoundError:
            if _copies_listed(there):  # its copies, the marker lost (FINDINGS20 1)
                return True, [there.describe()], fid
    start = f"{prefix}/" if prefix else ""
    answer = client.client.list_objects_v2(Bucket=bucket, Prefix=start, MaxKeys=_BELOW_KEYS)  # type: ignore[attr-defined]
    places: list[str] = []
    for item in answer.get("Contents") or []:
        key = item.get("Key", "")
        top = None
        if key.endswith("/" + MARKER_KEY) and key != start + MARKER_KEY:
            top = key[: -len(MARKER_KEY) - 1]
        elif key.endswith(".json") and f"/{ROOT}/" in key:  # a copy's manifest, its marker lost (FINDINGS20 1)
            head, _, tail = key.rpartition(f"/{ROOT}/")
            fid_bid = tail.split("/")
            if (
                head.startswith(start)
                and len(fid_bid) == 2
                and _FOLDER_ID.match(fid_bid[0])
                and _BACKUP_ID.match(fid_bid[1][:-5])
            ):
                top = head
        if top is not None:
            named = _with_prefix(client, top).describe()
            if named not in places:
                places.append(named)
    return (False, places, None) if places else None


def _with_prefix(client: LocationClient, prefix: str) -> LocationClient:
    """The S3 location `client` with `prefix` in place of its own (the same connection). Never raises."""
    import copy

    there = copy.copy(client)
    there.prefix = prefix  # type: ignore[attr-defined]
    return there


def _above(parts: list[str]) -> tuple[list[str] | None, str | None]:
    """For a path's parts (a folder's, or a prefix's): (the parts of the location it lies inside, when it ends
    in `JobMatcher` or `JobMatcher/<folder id>`; else None, the folder id when it ends in one). Never raises."""
    if parts and parts[-1] == ROOT:
        return parts[:-1], None
    if len(parts) >= 2 and parts[-2] == ROOT and _FOLDER_ID.match(parts[-1]):
        return parts[:-2], parts[-1]
    return None, None


def _folders_below(here: Path, marker: str) -> list[str]:
    """The folders up to _BELOW_DEPTH levels below `here` holding a location's marker and its JobMatcher
    folder, looking into at most _BELOW_FOLDERS folders (hidden ones and links skipped). Raises OSError."""
    found: list[str] = []
    level, looked = [here], 0
    for _ in range(_BELOW_DEPTH):
        nxt = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                looked += 1
                if looked > _BELOW_FOLDERS:
                    return found
                path = Path(entry.path)
                # its marker, or the copies a location's folder holds (its marker lost: FINDINGS20 1)
                if ((path / marker).is_file() and (path / ROOT).is_dir()) or holds_location_copies(path):
                    found.append(str(path))
                else:
                    nxt.append(path)
        level = nxt
    return found


def _backup_folder_not_location(root: Path, backup_id: str | None) -> InputError:
    """The refusal for a backup folder given where a backup location was expected: the hint names the file of
    `backup_id` there, else its newest backup's. Never raises."""
    named = root / f"{backup_id}.db" if backup_id and _BACKUP_ID.match(backup_id) else None
    if named is None or not named.is_file():
        try:
            files = sorted(p for p in root.glob("backup_*.db") if _BACKUP_ID.match(p.stem))
        except OSError:
            files = []
        named = files[-1] if files else root / "backup_….db"
    return InputError(
        f"{root} is a JobMatcher backup folder, not a backup location: its backups are restored from their files, "
        "with all of a restore's checks.",
        f"Restore one with `jobmatcher backup restore {shlex.quote(str(named))}`. `--from-folder` is for the "
        "folder of a backup location (it holds a JobMatcher folder of copies).",
        "Use “Restore from file…” and choose one of its backup_….db files.",
        code="backup-folder-not-location",
        path=str(root),
    )


def no_copies(where: str) -> BackupNotFoundError:
    """The refusal (a BackupNotFoundError, code "no-copies", returned for the caller to raise) for fetching a
    copy from a place that holds none. Never raises."""
    return BackupNotFoundError(
        f"There are no JobMatcher copies in {where}.",
        "Check the folder or bucket (is it the one the copies were made to? is the drive plugged in?).",
        code="no-copies",
        where=where,
    )


def find_remote(
    client: LocationClient,
    backup_id: str,
    folder_id: str | None = None,
    prefer: str | None = None,
    listing: str = "",
) -> RemoteBackup:
    """The copy with that id (of data folder `folder_id` when given); refused when unknown, when two data folders
    there both have one and none is `prefer`'s (this data folder's id: its own copy is the one its id names,
    FINDINGS18 8), or when it is listed with a doubt (refuse_doubtful: its name and its own record disagree, or
    another copy has its place). `listing`: the command that lists the copies there, for the hints (the command
    line's, with its --location, --from-folder or --from-s3; said in general without it).

    Raises:
        ValidationError: `backup_id` is not shaped like a backup id, or two other data folders have it there
            (then `folder_id` tells them apart; the message names their ids).
        BackupNotFoundError: no copy of that id.
        TamperedCopyError: the copy is listed with a doubt (refuse_doubtful).
        LocationUnavailableError / LocationCredentialsError: as list_remote.
    """
    listing = listing or "the list of the copies there (`backup list` with the same location)"
    if not isinstance(backup_id, str) or not _BACKUP_ID.match(backup_id):
        raise InputError(
            f"{backup_id!r} is not a backup id.",
            f"Use an id exactly as {listing} shows it.",
            "Choose the backup from the list again.",
        )
    matches = [r for r in list_remote(client, folder_id) if r.id == backup_id]
    if not matches:
        of = f" of the data folder {folder_id}" if folder_id else ""  # FINDINGS19 7: others may have that name
        raise BackupNotFoundError(
            f"There is no copy {backup_id!r}{of} at {client.describe()}.",
            f"See the ids (and each copy's data folder) in {listing}.",
            "Show the backups there again, then choose one from the list.",
            id=backup_id,
        )
    if len({r.folder_id for r in matches}) > 1:
        own = [r for r in matches if prefer and r.folder_id == prefer]
        if not own:
            ids = sorted({r.folder_id for r in matches})
            raise InputError(
                f"{len(ids)} data folders have a copy named {backup_id} at {client.describe()} (their ids: "
                f"{', '.join(ids)}).",
                f"Add --folder-id with the id of the data folder whose copy you want ({listing} shows whose each "
                "copy is).",
                "Choose the backup again: the list names each one's data folder.",
                code="ambiguous-copy",
                id=backup_id,
            )
        matches = own
    refuse_doubtful(client, matches[0])  # its name and its record disagree, or another has its place (Z4)
    return matches[0]


def encrypted_there(client: LocationClient, folder_id: str) -> bool:
    """Whether this data folder's copies at the location are known to be encrypted: its locked identity is
    there, or one of its copies is (`.db.age`). One listing of its namespace. Raises the location's errors."""
    return any(_shows_encryption(o.key, folder_id) for o in client.list(namespace(folder_id)))


def _shows_encryption(key: str, folder_id: str) -> bool:
    """Whether the key `key` in the namespace of `folder_id` shows its copies there are encrypted: its locked
    identity, or an encrypted copy. Never raises."""
    return key == identity_key(folder_id) or key.endswith(".db.age")


def expect_encrypted(client: LocationClient, remote: RemoteBackup, encrypted: bool) -> None:
    """Refuse a plain copy where copies are encrypted: `encrypted` (the location is configured to encrypt), or
    the data folder's locked identity or one of its encrypted copies is there (encrypted_there).

    JobMatcher's encrypting copier never writes a plain copy, so a plain one there was put by someone else (or
    by hand): restoring it would hand the user data nobody vouches for. (age does not authenticate the sender:
    see the README's threat model.) A passphrase given for a location whose copies are all plain proves
    nothing about them (a habit, one script for several locations): it is simply not needed (L26).
    Raises UnencryptedCopyError, or the location's errors."""
    if remote.encrypted:
        return
    if not encrypted and not encrypted_there(client, remote.folder_id):
        return
    raise UnencryptedCopyError(
        f"The copy {remote.id} at {client.describe()} is not encrypted, although this data folder's copies there "
        "are: it was not made by JobMatcher's encrypting copier (someone or something else put it there). "
        "Nothing was changed.",
        "Choose another copy. If you know you made this one yourself, restore its file instead: "
        "`jobmatcher backup restore PATH` (all of a restore's checks run on it).",
        "Choose another copy: this one was not made by JobMatcher's encrypting copier.",
        id=remote.id,
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def unlock_remote_identity(client: LocationClient, folder_id: str, secret: str) -> str:
    """The identity of `folder_id` from its locked copy at the location, opened with the passphrase or recovery key.

    Raises WrongPassphraseError (the passphrase does not open it; code "key-damaged" when age cannot read that
    locked copy at all), ValidationError (a mangled recovery key), TamperedCopyError (the locked identity is
    missing, or not a small regular file there, and no recovery key was given), or the location's errors
    (LocationUnavailableError / LocationCredentialsError). Each names the file at this location, and its hint
    what works here: the recovery key (not "another location", which the user may not have: V1)."""
    where = f"{client.describe()} (identity.age)"
    try:
        locked = client.get_bytes(identity_key(folder_id))
    except FileNotFoundError:
        if is_recovery_key(secret):
            return unlock_identity(b"", secret)
        raise TamperedCopyError(
            f"The encryption key of these copies is missing at {client.describe()}.",
            "Use the recovery key you were shown when encryption was set up.",
        ) from None
    except LocationCopyFailedError as e:  # not a small regular file: not read, not followed (T13, V2)
        if is_recovery_key(secret):
            return unlock_identity(b"", secret)
        why = (
            "it is far larger than any key"
            if getattr(e, "reason", "") == "too-large"
            else "it is not a regular file (a link, a pipe or a device is in its place)"
        )
        raise TamperedCopyError(
            f"The encryption key of these copies at {where} is not the file JobMatcher wrote there: {why}, "
            "so it was not read.",
            "Use the recovery key you were shown when encryption was set up.",
        ) from None
    try:
        return unlock_identity(locked, secret)
    except WrongPassphraseError as e:
        if e.code != "key-damaged":
            raise
        raise WrongPassphraseError(
            f"The encryption key of these copies at {where} is damaged: age cannot read it, whatever the passphrase.",
            "Use the recovery key you were shown when encryption was set up: it opens the copies without that file.",
            code="key-damaged",
        ) from None


def _disk_full(e: OSError, work_dir: Path, remote: RemoteBackup, *temps: Path) -> OSError | JobMatcherError:
    """For an OSError while a copy was fetched or decrypted into `work_dir`: when the disk is full (ENOSPC,
    EDQUOT), the InsufficientSpaceError naming that disk and the numbers (what the restore needs there, what is
    free once its `temps` are removed), as the check before fetching says them (V13); else `e` itself.
    Removes `temps` in either case. Never raises."""
    for p in temps:
        remove_quietly(p)
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return e
    from ..fsutil import free_space, space_error

    try:
        free = free_space(work_dir)
    except OSError:
        free = 0
    return space_error(
        work_dir,
        2 * remote.stored_size,
        free,
        "restoring this copy",
        "the copy fetched and its decrypted database side by side; the disk filled while it was written"
        if remote.encrypted
        else "twice the copy; the disk filled while it was written",
        "data-folder",
    )


def _lap(phases: dict[str, float] | None, name: str, since: float) -> float:
    """Add the seconds since `since` to `phases[name]` (when keeping phases); returns now."""
    now = time.perf_counter()
    if phases is not None:
        phases[name] = round(phases.get(name, 0.0) + now - since, 4)
    return now


def unlock_with_progress(
    client: LocationClient, folder_id: str, secret: str, say: Progress = ignore, phases: dict[str, float] | None = None
) -> str:
    """unlock_remote_identity with the "unlock" step shown (scrypt takes seconds by design, so the user sees
    what is happening) and its seconds in `phases`. Raises as unlock_remote_identity."""
    t = time.perf_counter()
    say("unlock", 0, None, "steps")
    identity = unlock_remote_identity(client, folder_id, secret)
    say("unlock", 1, 1, "steps")
    _lap(phases, "unlock", t)
    return identity


def fetch_verified(
    client: LocationClient,
    remote: RemoteBackup,
    secret: str | None,
    work_dir: Path,
    progress: Progress | None = None,
    identity: str | None = None,
    phases: dict[str, float] | None = None,
) -> Path:
    """Download a copy and prove it sound; returns the database as a temp file in `work_dir` (caller deletes it).

    In order: the identity unlocked with `secret` (WrongPassphraseError; skipped when the caller already
    unlocked it and passes `identity`: scrypt takes seconds by design), the stored bytes' size and SHA-256
    against the location manifest (TamperedCopyError), decryption (WrongIdentityError, TamperedCopyError), the
    database's SHA-256. The usual checks of a restore come after. `progress` gets "unlock"
    as a step, "download" and "decrypt" in bytes (progress.py); `phases`, when given, gets their seconds ("unlock",
    "download" with its checksum, "decrypt" with its checksum).

    Raises:
        ValidationError: the copy is encrypted and no `secret` was given.
        WrongPassphraseError / WrongIdentityError: the secret does not open it.
        TamperedCopyError: size or checksum differ from the location manifest, before or after decryption;
            the copy is not a regular file (a folder location) or is larger than the manifest says (read
            no further than that).
        LocationUnavailableError / LocationCredentialsError: the location cannot be read.
        No temp file is left in `work_dir` when it raises.
    """
    say: Progress = progress or ignore
    token = uuid.uuid4().hex[:12]
    # .NAME.PID.tmp: the next launch deletes these if this process dies
    stored = work_dir / f".location-fetch-{token}.{os.getpid()}.tmp"
    plain = work_dir / f".location-plain-{token}.{os.getpid()}.tmp"
    try:
        if remote.encrypted:
            if not secret:
                raise InputError(
                    "These copies are encrypted: the passphrase (or the recovery key) is needed.",
                    "Give it with --passphrase-file FILE, or run the command on a terminal.",
                    "Type the passphrase (or the recovery key) in the form.",
                    code="passphrase-needed",
                )
            if identity is None:  # wrong passphrase: before download
                identity = unlock_with_progress(client, remote.folder_id, secret, say, phases)
        t = time.perf_counter()
        try:
            client.get_file(
                data_key(remote.folder_id, remote.id, remote.encrypted),
                stored,
                lambda d, t: say("download", d, t, "bytes"),
                limit=remote.stored_size,  # never more than the manifest says were written (T4)
            )
        except OSError as e:  # the data folder's disk filled meanwhile (another program): said with the numbers
            raise _disk_full(e, work_dir, remote, stored, plain) from None
        size = stored.stat().st_size
        if size != remote.stored_size or _sha256(stored) != remote.stored_sha256:
            how = (
                f"it has {size:,} bytes where {remote.stored_size:,} were written"
                if size != remote.stored_size
                else "its checksum does not match the one recorded when it was written"
            )
            raise TamperedCopyError(
                f"The copy {remote.id} at {client.describe()} was changed since it was written: {how}. "
                "Nothing was changed.",
                "Choose another copy; this one cannot be trusted.",
            )
        t = _lap(phases, "download", t)
        if remote.encrypted:
            # in bytes of the database's recorded size: the decryption is bounded by it, so the total is known (X23)
            say("decrypt", 0, remote.size_bytes, "bytes")
            assert identity is not None
            try:  # never more than the database's recorded size (V13): a copy that decrypts to more is refused
                decrypt_file(
                    stored,
                    plain,
                    identity,
                    limit=remote.size_bytes,
                    count=lambda d, t: say("decrypt", d, t, "bytes"),
                )
            except OSError as e:
                raise _disk_full(e, work_dir, remote, stored, plain) from None
            remove_quietly(stored)
        else:
            os.replace(stored, plain)
        if _sha256(plain) != remote.sha256:
            raise TamperedCopyError(
                f"The copy {remote.id} decrypted, but not to the database that was copied "
                "(different checksum). Nothing was changed.",
                "Choose another copy; this one cannot be trusted.",
            )
        if (got := plain.stat().st_size) != remote.size_bytes:  # the recorded size is proven too, not only read
            raise TamperedCopyError(
                f"The copy {remote.id} at {client.describe()} holds a database of {got:,} bytes, where "
                f"{remote.size_bytes:,} were recorded when it was written: its record was changed since. "
                "Nothing was changed.",
                "Choose another copy; this one cannot be trusted.",
            )
        _lap(phases, "decrypt" if remote.encrypted else "download", t)
        return plain
    except BaseException:
        remove_quietly(plain)
        raise
    finally:
        remove_quietly(stored)
