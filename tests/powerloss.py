"""Power-loss torture: cut the power under real `jobmatcher` commands on crashfs, then check the data.

For each operation (`backup` = `backup create`, `restore` = `backup restore
FILE --yes`, `migrate` = `db migrate` from revision 0001 with its
pre-migration backup, `prune` = `backup prune` of a folder holding obsolete
backups, `settings` = `settings --retention-days N --auto-backup-hours H`,
`location` = `location sync` of two backups to two folder locations, plain and
encrypted, on the same crash disk):

1. the data folder is prepared on a plain disk (tests/torture.py's content);
2. one run of the command on crashfs counts its mutating file-system
   operations (T) and their kinds;
3. every round copies the pristine folder onto crashfs's backing folder,
   mounts it with the power cut after operation n, starts the command on the
   mount, kills it the moment the file system froze (a power cut stops
   everything), unmounts (crashfs then discards what was not durable, in the
   round's mode: see tests/crashfs.py), and checks the folder on the plain
   disk, first as the power cut left it, then after the app's launch sequence
   (`Engine.launch(auto_backup=False)`):
   - the live database passes `integrity_check` and holds the state before or
     the state intended (for `migrate`, after the launch, the state intended);
   - a command that had finished (exit 0) before the cut is durable: its
     result is what survived (the backup is listed, the restored data is
     live, the obsolete backups are gone, the new settings are read back);
   - every listed backup has its manifest, verifies and holds the state it
     should; no partial or hidden file is listed or left after the launch; a
     restore journal never points at a safety backup that was lost;
   - settings.json is readable and holds the old or the new settings.
   In a third of the rounds the next launch (`db migrate`) runs on crashfs
   too, with a second power cut in its first 80 operations, before the checks
   after the launch: recovery must survive a power cut as well.
   n is drawn per round: in 20% of the rounds the power goes out right after
   the command finished, in 40% n is uniform in [0, T], in 40% the cut falls
   just before or just after an fsync, a directory fsync, a rename, a create,
   an unlink or a mkdir (where ordering bugs live).

Every round has its own seed (mode, n, torn pages), printed with any failure:

    python tests/powerloss.py --op backup --cuts 30 --seed 20261130
    python tests/powerloss.py --op backup --round-seed 123456789     # replay one round

Needs root, /dev/fuse, fusermount3 and mfusepy (tests/test_powerloss.py skips without them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import torture
from jobmatcher.backups import BackupStore
from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError
from jobmatcher.manifest import Manifest, manifest_path, write_manifest
from jobmatcher.settings import load_settings
from torture import content_hash

OPS = ("backup", "restore", "migrate", "prune", "settings", "location")
CRASHFS = Path(__file__).with_name("crashfs.py")
INTERESTING = set("fdncuml")  # fsync, fsyncdir, rename, create, unlink, mkdir, link
NEW_SETTINGS = {"retention_days": 7, "auto_backup_hours": 6.0}
# What a data folder with a backup location holds besides the database and settings.
# Files the backup folder keeps for good (the manifests' lock file): not leftovers of a cut.
OWN_BACKUP_FOLDER_FILES = {".jobmatcher-manifests.lock"}
LOCATION_FILES = {
    ".jobmatcher-folder-id",
    ".jobmatcher.locations.lock",
    "locations-state.json",
    "locations.json",
    "location-identity.age",
    "location-identity.recipient",
}
# The passphrase of the encrypted location of the `location` rounds.
LOCATION_PASSPHRASE = "power cut passphrase"


def unavailable() -> str | None:
    """Why crashfs cannot run here, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "crashfs needs root (FUSE mounts)"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not shutil.which("fusermount3"):
        return "no fusermount3 (apt-get install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as e:
        return f"mfusepy unavailable: {e}"
    return None


# -- the mount -------------------------------------------------------------------------


class CrashMount:
    """One crashfs process: BACKING (plain disk) served at MOUNT until unmounted."""

    def __init__(self, work: Path) -> None:
        self.work = Path(work)
        self.backing = self.work / "disk"
        self.mount = self.work / "mnt"
        self.store = self.work / "store"
        self.status = self.work / "crashfs-status.json"
        self.proc: subprocess.Popen | None = None
        self.mount.mkdir(parents=True, exist_ok=True)

    def start(
        self, cut_after: int | None, seed: int, mode: str | None = None, no_loss: bool = False, trace: bool = False
    ) -> None:
        self.status.unlink(missing_ok=True)
        argv = [
            sys.executable,
            str(CRASHFS),
            str(self.backing),
            str(self.mount),
            "--store",
            str(self.store),
            "--status",
            str(self.status),
            "--seed",
            str(seed),
        ]
        if cut_after is not None:
            argv += ["--cut-after", str(cut_after)]
        if mode:
            argv += ["--mode", mode]
        if no_loss:
            argv.append("--no-loss")
        if trace:
            argv.append("--trace")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crashfs did not mount: {self.proc.stderr.read().decode(errors='replace')}")
            if self.read_status().get("mounted") and os.path.ismount(self.mount):
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("crashfs did not mount within 30 s")

    def read_status(self) -> dict:
        try:
            return json.loads(self.status.read_text())
        except (OSError, ValueError):
            return {}

    def frozen(self) -> bool:
        return bool(self.read_status().get("frozen"))

    def stop(self) -> dict:
        """Unmount (crashfs then applies the power cut) and return its report."""
        if self.proc is None:
            return {}
        for _ in range(200):
            r = subprocess.run(["fusermount3", "-u", str(self.mount)], capture_output=True, text=True)
            if r.returncode == 0 or not os.path.ismount(self.mount):
                break
            time.sleep(0.05)  # busy: a killed process's files are still being closed
        else:
            subprocess.run(["fusermount3", "-uz", str(self.mount)], capture_output=True)
        try:
            _, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.proc = None
        report = self.read_status()
        if not report.get("done"):
            raise RuntimeError(f"crashfs ended without its report: {err.decode(errors='replace')[-2000:]}")
        return report


# -- one operation under power cuts ------------------------------------------------------


@dataclass
class Result:
    op: str
    cuts: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    mid_operation: int = 0  # cuts while the command was still running
    ops_per_run: int = 0
    seconds: float = 0.0
    db_mb: float = 0.0

    def count(self, table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1


class PowerLoss:
    def __init__(self, op: str, work: Path, size_mb: float, seed: int, log=print) -> None:
        assert op in OPS, op
        self.op, self.work, self.seed, self.log = op, Path(work), seed, log
        self.work.mkdir(parents=True, exist_ok=True)
        base = {"prune": "backup", "settings": "backup", "location": "backup"}.get(op, op)
        self.t = torture.Torture(base, self.work / "prep", size_mb, seed, log)  # content, states, commands
        self.pristine = self.work / "pristine"
        if self.pristine.exists():
            shutil.rmtree(self.pristine)
        shutil.copytree(self.t.data, self.pristine)
        self.before, self.intended = self.t.before, self.t.intended
        self.command = list(self.t.command)
        self.old_settings = load_settings(self.pristine / "settings.json").model_dump()
        if op == "prune":
            self._prepare_prune()
        elif op == "settings":
            self.command = [
                "settings",
                "--retention-days",
                str(NEW_SETTINGS["retention_days"]),
                "--auto-backup-hours",
                str(NEW_SETTINGS["auto_backup_hours"]),
            ]
        self.fs = CrashMount(self.work / "crash")
        self.env = {**self.t.env}
        self.second_cut: tuple[int, int] | None = None
        if op == "location":
            self._prepare_location()
        if op == "settings":
            self.new_settings = self._reference_settings()

    def _reference_settings(self) -> dict:
        """The settings the command writes, from one run on a plain copy of the folder."""
        ref = self.work / "settings-reference"
        if ref.exists():
            shutil.rmtree(ref)
        shutil.copytree(self.pristine, ref)
        subprocess.run(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(ref), *self.command],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        new = load_settings(ref / "settings.json").model_dump()
        shutil.rmtree(ref)
        assert new != self.old_settings, "the settings command changed nothing"
        return new

    def _prepare_prune(self) -> None:
        """Five backups of the state before, one a day (every day in use: FINDINGS10 W2's rule, days without
        backups age nothing) and one day to keep: two obsolete (2 and 3 days old), one pinned old, one from
        yesterday and the newest kept."""
        e = Engine(self.pristine)
        e.update_settings({"retention_days": 1, "retention_policy": "simple"}, confirmed=True)
        self.old_settings = load_settings(self.pristine / "settings.json").model_dump()
        now = datetime.now(timezone.utc)
        for i, (days, pinned) in enumerate([(3, False), (3, True), (2, False), (1, False), (0, False)]):
            rec = e.create_backup(note=f"prune {i}")
            path = Path(rec.path)
            when = now - timedelta(days=days, seconds=i)
            final = path.with_name(f"backup_{when:%Y-%m-%d_%H-%M-%S}.db")
            m = Manifest.model_validate_json(manifest_path(path).read_bytes())
            m.created_at, m.pinned = when, pinned
            os.rename(path, final)
            os.unlink(manifest_path(path))
            write_manifest(final, m)
        self.all_ids = {r.id for r in e.list_backups()}
        self.kept_ids = self.all_ids - {r.id for r in e.prune(dry_run=True)}
        assert len(self.kept_ids) < len(self.all_ids), "nothing to prune"
        self.command = ["backup", "prune"]

    def _prepare_location(self) -> None:
        """Two folder locations on the same crash disk, added through the mount: `loc/` with plain copies and
        `loc-enc/` with encrypted ones (age in its child process, one fsync at the end); two backups to copy."""
        self.reset()
        (self.fs.backing / "loc").mkdir()
        (self.fs.backing / "loc-enc").mkdir()
        secret = self.work / "passphrase.txt"
        secret.write_text(LOCATION_PASSPHRASE + "\n")
        self.fs.start(None, 0, no_loss=True)
        try:
            for extra in (["--no-encrypt", str(self.fs.mount / "loc")], [str(self.fs.mount / "loc-enc")]):
                if "--no-encrypt" not in extra:
                    extra = ["--passphrase-file", str(secret), "--yes", *extra]
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "jobmatcher",
                        "--data-dir",
                        str(self.fs.mount / "data"),
                        "location",
                        "add",
                        "folder",
                        *extra,
                    ],
                    env=self.env,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
        finally:
            self.fs.stop()
        shutil.rmtree(self.pristine)
        shutil.copytree(self.fs.backing, self.pristine)  # the whole disk: data/ and loc/
        e = Engine(self.pristine / "data")
        self.copy_ids = {e.create_backup(note="to copy").id for _ in range(2)}
        if len(self.copy_ids) < 2:
            raise RuntimeError("two backups in the same second")
        # The rounds run the data folder at the mount while this pristine one still exists: recorded at the
        # pristine path, it would count as a copy of it, get a new id, and its backups (stamped with the old
        # one) would be another data folder's, never copied. Record the path it is used at.
        id_file = self.pristine / "data" / ".jobmatcher-folder-id"
        body = json.loads(id_file.read_bytes())
        body["path"] = str(self.fs.mount / "data")
        id_file.write_text(json.dumps(body))
        self.command = ["location", "sync"]

    @property
    def data(self) -> Path:
        return self.fs.backing / "data"

    def data_of(self, disk_or_data: Path) -> Path:
        return disk_or_data / "data" if (disk_or_data / "data").is_dir() else disk_or_data

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "jobmatcher", "--data-dir", str(self.fs.mount / "data"), *self.command]

    def reset(self) -> None:
        if self.fs.backing.exists():
            shutil.rmtree(self.fs.backing)
        if self.op == "location" and (self.pristine / "loc").is_dir():
            shutil.copytree(self.pristine, self.fs.backing)
            return
        self.fs.backing.mkdir(parents=True)
        shutil.copytree(self.pristine, self.data)

    def count_ops(self) -> str:
        """Run the command once on crashfs without loss; the kinds of its mutating operations, in order."""
        self.reset()
        self.fs.start(None, 0, no_loss=True, trace=True)
        try:
            p = subprocess.run(self._argv(), env=self.env, capture_output=True, timeout=600)
        finally:
            report = self.fs.stop()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(self.command)} failed on crashfs: {p.stderr.decode(errors='replace')}")
        return report["trace"]

    # one round
    def round(self, round_seed: int, trace: str, result: Result) -> None:
        rng = random.Random(round_seed)
        total = len(trace)
        draw = rng.random()
        if draw < 0.2:
            cut = None  # the power goes out right after the command finished: was what it reported durable?
        elif draw < 0.6 or not any(k in INTERESTING for k in trace):
            cut = rng.randint(0, total)
        else:
            at = rng.choice([i for i, k in enumerate(trace) if k in INTERESTING])
            cut = at + rng.choice((0, 1))  # just before it, or just after
        fs_seed = rng.getrandbits(32)
        # a third of the rounds cut the power again while the next launch recovers (`db migrate` runs the
        # launch sequence), somewhere in its first 80 operations
        self.second_cut = (rng.randint(0, 80), rng.getrandbits(32)) if rng.random() < 1 / 3 else None
        self.reset()
        returncode, err, report = self._run_on_crashfs(self._argv(), cut, fs_seed)
        result.cuts += 1
        completed = returncode == 0 and not report.get("frozen")
        result.count(result.modes, report["mode"])
        if not completed:
            result.mid_operation += 1
        at = (
            "after the command finished"
            if cut is None
            else f"after op {cut} of {total} ({trace[cut - 1] if 0 < cut <= total else '-'})"
        )
        where = (
            f"round seed {round_seed}: cut {at}, mode {report['mode']}, {'finished' if completed else 'mid-operation'}"
        )
        if self.second_cut:
            where += f", then a cut after op {self.second_cut[0]} of the next launch"
        if not completed and not report.get("frozen"):
            result.failures.append(
                f"{where}: the command failed by itself (exit {returncode}): {err.decode(errors='replace')[-400:]}"
            )
            return
        for problem in self.check(completed, result):
            result.failures.append(f"{where}: {problem}")

    def _run_on_crashfs(self, argv: list[str], cut: int | None, fs_seed: int) -> tuple[int, bytes, dict]:
        """Run `argv` on a fresh mount with the power cut after operation `cut`; (exit code, stderr, report)."""
        self.fs.start(cut, fs_seed)
        p = None
        try:
            p = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 300
            while p.poll() is None and not self.fs.frozen() and time.monotonic() < deadline:
                time.sleep(0.005)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)  # the power is out: the program stops too
            _, err = p.communicate()
        finally:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
            report = self.fs.stop()
        return p.returncode, err, report

    def _recover_under_cut(self) -> list[str]:
        """The next launch (`db migrate`: lock, recovery, cleanup, migration, retention) with its own power cut."""
        cut, seed = self.second_cut
        argv = [sys.executable, "-m", "jobmatcher", "--data-dir", str(self.fs.mount / "data"), "db", "migrate"]
        returncode, err, report = self._run_on_crashfs(argv, cut, seed)
        if returncode != 0 and not report.get("frozen"):
            return [
                f"the launch after the power cut failed by itself (exit {returncode}): "
                f"{err.decode(errors='replace')[-400:]}"
            ]
        return []

    # the checks
    def check(self, completed: bool, result: Result) -> list[str]:
        problems: list[str] = []
        db = self.data / "jobmatcher.db"
        store = BackupStore(self.data / "backups")
        # as the power cut left it, before anything repairs it
        raw_ids = {r.id for r in store.list()}
        try:
            settings_raw = load_settings(self.data / "settings.json").model_dump()
        except JobMatcherError as e:
            problems.append(f"settings.json is damaged after the cut: {e.message}")
            settings_raw = None
        if self.op == "backup" and completed and not raw_ids:
            problems.append("the command reported a backup made, but no backup survived the power cut")
        if self.op == "prune":
            if not self.kept_ids <= raw_ids:
                problems.append(f"backups that must be kept were lost: {sorted(self.kept_ids - raw_ids)}")
            if completed and raw_ids != self.kept_ids:
                problems.append(f"prune finished but deleted backups came back: {sorted(raw_ids - self.kept_ids)}")
        if self.op == "settings" and settings_raw is not None:
            new = self.new_settings
            if settings_raw not in (self.old_settings, new):
                problems.append(f"settings are neither the old nor the new ones: {settings_raw}")
            if completed and settings_raw != new:
                problems.append("the command reported the settings saved, but the old ones came back")
        journal = self.data / "restore-journal.json"
        if self.op == "restore" and completed and journal.exists():
            problems.append(
                "the command reported the restore done, but its journal came back (the next launch "
                "would call it interrupted)"
            )
        if journal.exists():
            try:
                j = json.loads(journal.read_bytes())
            except ValueError:
                j = {}
            sp = j.get("safety_path")
            staged = (self.data / "jobmatcher.db.restoring").exists()
            # needed once the swap may have happened (staged file gone) or a roll-back is under way; before
            # that the next launch discards the staged copy and needs no safety backup
            if sp and (j.get("phase") == "recover" or (j.get("phase") == "staged" and not staged)):
                safety = self.data / "backups" / Path(sp).name  # the path was on the mount
                if not safety.exists():
                    problems.append(
                        f"the restore journal ({j.get('phase')}) points at a safety backup that was "
                        f"lost: {Path(sp).name}"
                    )
        if self.op == "migrate" and completed:
            try:
                if torture.Torture._state_of(db, writable=True) != self.intended:
                    problems.append("the command reported the database updated, but the old revision came back")
            except Exception as e:  # noqa: BLE001
                problems.append(f"the live database cannot be read after the cut: {type(e).__name__}: {e}")
        if self.op == "restore" and completed:
            try:
                if torture.Torture._state_of(db, writable=True) != self.intended:
                    problems.append("the command reported the restore done, but the data before came back")
            except Exception as e:  # noqa: BLE001
                problems.append(f"the live database cannot be read after the cut: {type(e).__name__}: {e}")
        if self.second_cut:
            problems += self._recover_under_cut()
        if settings_raw is None:
            return problems  # the app refuses a damaged settings file, said above: there is no launch to check
        # then as the app opens it: torture's checks (integrity, before/intended, listed backups, leftovers)
        t = self.t
        t.data = self.data
        evidence = t._evidence()
        if self.op == "location":
            problems += self._location_checks(completed)
        if self.op in ("prune", "settings", "location"):  # backups of the state before exist from the start
            problems += self._launch_checks()
        else:
            problems += t._check(torture.OpResult(t.op), evidence)
        problems += self._no_backup_is_the_live_file()
        if completed:
            result.count(result.outcomes, "finished before the cut")
        else:
            result.count(result.outcomes, "cut mid-operation")
        return problems

    def _no_backup_is_the_live_file(self) -> list[str]:
        """A restore keeps the old live file as its safety backup by a hard link; a backup that is still the live
        file itself (the same inode) would change with every write to the data."""
        try:
            live = os.stat(self.data / "jobmatcher.db")
        except OSError:
            return []
        folder = self.data / "backups"
        names = os.listdir(folder) if folder.is_dir() else []
        return [
            f"the listed backup {n[:-3]} is the live database itself (a hard link), not a copy of it"
            for n in names
            if n.endswith(".db") and not n.startswith(".") and os.stat(folder / n).st_ino == live.st_ino
        ]

    def _location_checks(self, completed: bool) -> list[str]:
        """Every copy listed at the location is whole; a finished sync's copies all survived; the recorded state
        never claims a copy that is not there."""
        from jobmatcher.locations.config import load_config, load_states
        from jobmatcher.locations.folder import FolderLocation
        from jobmatcher.locations.remote import list_remote
        from jobmatcher.verify import sha256_file

        problems = []
        fid = json.loads((self.data / ".jobmatcher-folder-id").read_bytes())["id"]
        states = load_states(self.data)
        for loc in load_config(self.data).locations:
            folder = self.fs.backing / Path(loc.path or "").name  # added at the mount: the same place on the disk
            client = FolderLocation(folder)
            try:
                remote = list_remote(client, fid)
            except Exception as e:  # noqa: BLE001
                problems.append(f"the location {folder.name} cannot be listed after the cut: {type(e).__name__}: {e}")
                continue
            there = set()
            for r in remote:
                path = folder / "JobMatcher" / fid / f"{r.id}.db{'.age' if loc.encrypt else ''}"
                if not path.is_file() or sha256_file(path) != r.stored_sha256 or r.encrypted != loc.encrypt:
                    problems.append(f"the copy {r.id} listed at {folder.name} is partial or missing")
                else:
                    there.add(r.id)
            if completed and not self.copy_ids <= there:
                problems.append(
                    f"the sync reported the copies made, but {sorted(self.copy_ids - there)} did not survive the "
                    f"power cut at {folder.name}"
                )
            claimed = set(states[loc.id].copied) if loc.id in states else set()
            if claimed - there:
                problems.append(
                    f"the data folder records copies at {folder.name} that the power cut lost: "
                    f"{sorted(claimed - there)}"
                )
        return problems

    def _launch_checks(self) -> list[str]:
        """For prune and settings: the launch works, the live data is unchanged, every listed backup is whole."""
        problems = []
        engine = None
        try:
            engine = Engine(self.data)
            engine.launch(auto_backup=False)
        except Exception as e:  # noqa: BLE001
            return [f"the app could not open the folder: {type(e).__name__}: {e}"]
        finally:
            if engine is not None:
                engine.release_instance_lock()
        try:
            if torture.Torture._state_of(self.data / "jobmatcher.db") != self.before:
                problems.append("the live database changed")
        except Exception as e:  # noqa: BLE001
            problems.append(f"the live database cannot be read: {type(e).__name__}: {e}")
        try:
            listed = engine.list_backups()
        except JobMatcherError as e:
            return problems + [f"the backups cannot be listed after the launch: {e.message}"]
        for rec in listed:
            try:
                engine.verify(rec.id)
            except JobMatcherError as e:
                problems.append(f"the listed backup {rec.id} does not verify: {e.message}")
                continue
            if not rec.has_manifest:
                problems.append(f"the listed backup {rec.id} has no manifest")
            if content_hash(Path(rec.path)) != self.before:
                problems.append(f"the listed backup {rec.id} does not hold the state before")
        names = set(os.listdir(self.data / "backups")) if (self.data / "backups").is_dir() else set()
        hidden = sorted(n for n in names if n.startswith(".") and n not in OWN_BACKUP_FOLDER_FILES)
        if hidden:
            problems.append(f"leftovers in the backup folder after launch: {hidden}")
        orphans = sorted(n for n in names if n.endswith(".json") and n[:-5] + ".db" not in names)
        if orphans:
            problems.append(f"manifests without their backup left after launch: {orphans}")
        extra = {p.name for p in self.data.iterdir()} - torture.DATA_FOLDER_NAMES - LOCATION_FILES
        if extra:
            problems.append(f"leftovers in the data folder after launch: {sorted(extra)}")
        return problems


def round_seeds(op: str, seed: int, cuts: int) -> list[int]:
    rng = random.Random(f"{seed}-{op}-powerloss")
    return [rng.getrandbits(40) for _ in range(cuts)]


def run(op: str, cuts: int, seed: int, size_mb: float, work: Path, log=print, only: list[int] | None = None) -> Result:
    """Prepare, count the operations, cut `cuts` times (or replay the round seeds `only`), check each."""
    t0 = time.perf_counter()
    torture._quiet_logs()
    pl = PowerLoss(op, work / op, size_mb, seed, log)
    result = Result(op=op, db_mb=round((pl.data_of(pl.pristine) / "jobmatcher.db").stat().st_size / 1e6, 2))
    trace = pl.count_ops()
    result.ops_per_run = len(trace)
    log(
        f"[{op}] {result.db_mb} MB; {len(trace)} mutating operations per run "
        f"({trace.count('f')} fsync, {trace.count('d')} directory fsync, {trace.count('n')} rename)"
    )
    seeds = only if only is not None else round_seeds(op, seed, cuts)
    for s in seeds:
        before = len(result.failures)
        try:
            pl.round(s, trace, result)
        except Exception as e:  # noqa: BLE001 - a harness error is a failure of the round, not the end of the run
            result.failures.append(f"round seed {s}: the harness failed: {type(e).__name__}: {e}")
        for f in result.failures[before:]:
            log(f"[{op}] FAILURE {f}")
        if result.cuts % 25 == 0:
            log(
                f"[{op}] {result.cuts} of {len(seeds)} cuts, {len(result.failures)} failures, "
                f"{time.perf_counter() - t0:.0f}s"
            )
    result.seconds = time.perf_counter() - t0
    log(
        f"[{op}] {result.cuts} cuts, {len(result.failures)} failures, modes {result.modes}, "
        f"outcomes {result.outcomes}, {result.seconds:.0f}s"
    )
    shutil.rmtree(work / op, ignore_errors=True)
    return result


LABELS = {
    "backup": "`backup create`",
    "restore": "`backup restore` (whole sequence)",
    "migrate": "`db migrate` with its pre-migration backup",
    "prune": "`backup prune` (retention)",
    "settings": "`settings` (settings.json)",
    "location": "`location sync` (copies to a folder location)",
}


def markdown(results: list[Result], seed: int, size_mb: float, total_seconds: float) -> str:
    lines = [
        "| Operation | Database | File-system operations per run | Power cuts | Cut mid-operation | Modes | Failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        modes = ", ".join(f"{v} {k}" for k, v in sorted(r.modes.items()))
        lines.append(
            f"| {LABELS[r.op]} | {r.db_mb} MB | {r.ops_per_run} | {r.cuts} | {r.mid_operation} | "
            f"{modes} | **{len(r.failures)}** |"
        )
    cuts = sum(r.cuts for r in results)
    failures = sum(len(r.failures) for r in results)
    lines += [
        "",
        f"{cuts} power cuts, {failures} failures; seed {seed}, database {size_mb:g} MB requested, "
        f"{total_seconds / 60:.1f} minutes in all ({torture._machine()}). Reproduce with "
        f"`python tests/powerloss.py --op all --cuts {results[0].cuts if results else 0} --seed {seed} "
        f"--size-mb {size_mb:g}`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--op", choices=OPS + ("all",), default="all")
    p.add_argument("--cuts", type=int, default=200)
    p.add_argument("--seed", type=int, default=20261130)
    p.add_argument("--size-mb", type=float, default=1)
    p.add_argument("--round-seed", type=int, action="append", help="replay only this round (repeatable)")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--results-md", type=Path, default=None)
    args = p.parse_args(argv)
    why = unavailable()
    if why:
        print(f"powerloss: cannot run: {why}", file=sys.stderr)
        return 1
    import tempfile

    ops = OPS if args.op == "all" else (args.op,)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jobmatcher-powerloss-", dir=args.workdir) as tmp:
        os.environ.setdefault("JOBMATCHER_LOG_DIR", str(Path(tmp) / "logs"))
        results = [run(op, args.cuts, args.seed, args.size_mb, Path(tmp), only=args.round_seed) for op in ops]
    text = markdown(results, args.seed, args.size_mb, time.perf_counter() - t0)
    print(text)
    if args.results_md:
        args.results_md.write_text(text)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
