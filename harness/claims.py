"""Claim files: each run is trained by exactly one worker, even across machines on a shared filesystem.

A claim is ``<run_dir>/claim``, created with O_CREAT|O_EXCL (atomic on local and NFS filesystems). It
records its owner, a fresh token, the owner's host and pid, and the owner's own clock: the time of its
last heartbeat and its lease. The owner rewrites it every ``heartbeat_s`` seconds. A claim is free to
take over when its owner's deadline (last beat + lease) has passed, or at once when its owner is a
process on this host that no longer exists (SIGKILL, OOM).

Every change to an existing claim (heartbeat, release, takeover, and the final write of result.json via
:meth:`Claim.owned`) happens under one lock file per run, and the owner checks its token under that
lock: a takeover can never fall between "is it still mine?" and the write or unlink that follows.

Clock choice: staleness is judged from the deadline *written in the file by the owner's clock*, read
with the reader's clock -- not from the file's mtime, which is stamped by the file server's clock (a
third clock, on NFS) and which anything touching the file moves. Hosts of one cluster run NTP, so the
owner/reader skew is well under a second, small against a lease of minutes; a reader whose clock runs
ahead by s takes over s seconds early. That is why a lease must be well above the heartbeat
(:func:`check_lease`). Only a claim without readable content (a writer killed between create and
write) falls back to its mtime.

An owner id may be stable across restarts of the same job (a requeued SLURM array task, a retried Ray
task): such a job takes its own claim back at once instead of waiting out the lease. Each acquisition
writes a fresh token, so an earlier incarnation that is somehow still alive loses at its next heartbeat.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from filelock import FileLock

from harness.errors import ConfigError

CLAIM_FILE = "claim"
HEARTBEAT_S = 5.0  # seconds between an owner's heartbeats


class ClaimLost(RuntimeError):
    """Raised in a worker whose claim expired and was taken over by another worker."""


def check_lease(lease_s: float, heartbeat_s: float = HEARTBEAT_S) -> None:
    """Refuse a lease that a live owner could miss: it must exceed two heartbeats (ConfigError naming --lease)."""
    if not lease_s > 2 * heartbeat_s:
        raise ConfigError(f"--lease: {lease_s:g} s is too short; it must exceed twice the heartbeat "
                          f"({2 * heartbeat_s:g} s), or a live worker's run could be taken over and trained twice")


def new_owner_id() -> str:
    """A worker identity: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _read_claim(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _pid_gone(pid: int) -> bool:
    """Whether no process with this pid exists on this host (a recycled pid counts as alive: safe side)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, owned by someone else
        return False
    return False


def _number(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def owner_dead(content: dict) -> bool:
    """Whether a claim's owner was a process on this host that has exited."""
    pid = content.get("pid")
    return content.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0 and _pid_gone(pid)


def is_stale(path: Path, fallback_lease_s: float = 300.0) -> bool:
    """Whether the claim at ``path`` is free to take: absent, owner dead on this host, or deadline passed.

    The deadline is the owner's last beat plus its lease, both as the owner wrote them; a claim without
    them (torn, foreign) falls back to its mtime plus ``fallback_lease_s``.
    """
    content = _read_claim(path)
    if owner_dead(content):
        return True
    beat, lease = _number(content.get("beat_at")), _number(content.get("lease_s"))
    if beat is not None and lease is not None:
        return time.time() > beat + lease
    try:
        return time.time() - path.stat().st_mtime > fallback_lease_s
    except FileNotFoundError:
        return True


class Claim:
    """An exclusive, leased claim on one run directory."""

    def __init__(self, run_dir: Path, owner: str, lease_s: float = 300.0, heartbeat_s: float = HEARTBEAT_S):
        check_lease(lease_s, heartbeat_s)
        self.path, self.owner = Path(run_dir) / CLAIM_FILE, owner
        self.lease_s, self.heartbeat_s, self._last_beat = lease_s, heartbeat_s, 0.0
        self.token = uuid.uuid4().hex

    def _lock(self) -> FileLock:
        return FileLock(str(self.path.with_name(f"{CLAIM_FILE}.takeover.lock")))

    def _content(self) -> bytes:
        now = time.time()
        self._last_beat = now
        return json.dumps({"owner": self.owner, "token": self.token, "host": socket.gethostname(),
                           "pid": os.getpid(), "beat_at": now, "lease_s": self.lease_s}).encode()

    def is_stale(self) -> bool:
        """Whether the existing claim (anyone's) is free to take over; see :func:`is_stale`."""
        return is_stale(self.path, self.lease_s)

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._content())
        return True

    def acquire(self) -> bool:
        """Take the claim if it is free, stale or already ours; False if another live worker holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return True
        # Takeovers are serialised with heartbeats and releases: the claim judged stale here cannot be
        # renewed or replaced before it is removed (an O_EXCL create cannot replace an existing file).
        with self._lock():
            if _read_claim(self.path).get("owner") != self.owner and not self.is_stale():
                return False
            self.path.unlink(missing_ok=True)
            return self._create()

    def _check_token(self) -> None:
        if _read_claim(self.path).get("token") != self.token:
            raise ClaimLost(f"{self.path}: claim was taken over by another worker")

    def heartbeat(self) -> None:
        """Renew the lease (throttled); raise ClaimLost if the claim now belongs to someone else."""
        if time.time() - self._last_beat < self.heartbeat_s:
            return
        with self._lock():
            self._check_token()
            tmp = self.path.with_name(f".{CLAIM_FILE}.{self.token[:8]}.tmp")  # torn: removed by the next owner
            tmp.write_bytes(self._content())
            os.replace(tmp, self.path)

    @contextmanager
    def owned(self) -> Iterator[None]:
        """Hold the claim's lock for the block, after checking the claim is still ours (else ClaimLost).

        Wrap a run's last write (result.json) in it: no takeover can happen between the check and the write.
        """
        with self._lock():
            self._check_token()
            yield

    @contextmanager
    def kept_alive(self) -> Iterator[Callable[[], None]]:
        """Renew the lease from a background thread for the whole block (data loading and evals included).

        Yields a cheap check for the training loop to call every step: it raises ClaimLost once the
        thread has seen the claim taken over by another worker.
        """
        stop, lost = threading.Event(), threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                try:
                    self.heartbeat()
                except ClaimLost:
                    lost.set()
                    return
                except OSError:
                    continue  # a transient filesystem hiccup: try again next beat

        def check() -> None:
            if lost.is_set():
                raise ClaimLost(f"{self.path}: claim was taken over by another worker")

        thread = threading.Thread(target=beat, name=f"claim-heartbeat-{self.path.parent.name}", daemon=True)
        thread.start()
        try:
            yield check
        finally:
            stop.set()
            thread.join()

    def release(self) -> None:
        """Remove the claim if this worker still owns it (checked and removed under the lock)."""
        if not self.path.exists():
            return
        with self._lock():
            if _read_claim(self.path).get("token") == self.token:
                self.path.unlink(missing_ok=True)


def claim_state(run_dir: Path, lease_s: float = 300.0) -> Optional[str]:
    """'running' for a live claim, 'stale' for a free one (expired, or its owner died here), None when unclaimed.

    ``lease_s`` only matters for a claim without readable content (see :func:`is_stale`).
    """
    path = Path(run_dir) / CLAIM_FILE
    if not path.exists():
        return None
    return "stale" if is_stale(path, lease_s) else "running"
