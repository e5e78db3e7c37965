"""Extending a cooldown-branching sweep without retraining what it already has.

Adding a longer budget to a ``branching: wsd`` sweep (64M tokens to a 2-32M sweep, say) changes every trunk's
horizon, so each trunk gets a new run id, and so does every branch (a branch's id names its trunk): as planned, the
whole sweep would train again. Their outcomes have not changed. A trunk holds the peak LR after the same warm-up and
sees data in an order fixed by (seed, step), so its state after step s is the same for every horizon >= s; a branch's
outcome is fixed by its own fields and that state. Hence (Hägele et al. 2024, "Scaling Laws and Compute-Optimal
Training Beyond Fixed Training Durations": a constant-LR run can be extended and cooled down at any point):

- a trunk with no checkpoint of its own **continues an equal trunk** of another horizon in the same sweep directory
  -- same run-id fields apart from the horizon (``steps``, ``tokens``, ``branch_steps``), finished, on the same
  corpus fingerprint -- from its latest branch point that leaves none of the new trunk's points unmade, begins its
  metrics with that trunk's rows and links the earlier points its branches need (:func:`continue_shorter_trunk`);
- a branch with no record of its own **reuses the finished record of its equal** -- same run-id fields apart from
  ``branch_of``, cooled down from a trunk equal to its own but for the horizon, same corpus fingerprint -- copied
  under its own id, naming where it came from (:func:`reuse_equal_branch`).

Only directories whose stored spec still produces their run id are used (:func:`harness.store.spec_problem`).
Records say what happened: a continued trunk's result has ``continued_from`` (run id, step), a reused branch's
``reused_from``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from harness.plan import RunSpec
from harness.store import (
    CHECKPOINT_FILE, METRICS_FILE, RESULT_FILE, SPEC_FILE, atomic_write_bytes, atomic_write_json, read_json,
    read_result, spec_problem,
)

HORIZON_FIELDS = ("steps", "tokens", "branch_steps")   # what changes in a trunk when a longer budget is added
CONTINUED_FILE = "continued_from.json"   # a continued trunk's source: {"run_id", "step"}
_POINT = re.compile(r"branch-(\d{9})\.pt")
_TOKENS = re.compile(r"-D[0-9.e]+(?=-)")
_STORED: dict = {}   # run dir -> (mtimes of spec.json and result.json, what they say): read again only when changed


def _identity(payload: dict, drop: tuple) -> str:
    return json.dumps({k: v for k, v in payload.items() if k not in drop}, sort_keys=True, default=str)


def _trunk_view(branch: RunSpec) -> str:
    """The identity (but for its horizon) of the trunk a branch cools down from: the branch's own fields, with the
    trunk's constant schedule (harness.branching._branch_group makes the trunk so)."""
    payload = branch.outcome_payload()
    payload["schedule"] = {**payload["schedule"], "kind": "constant"}
    return _identity(payload, HORIZON_FIELDS + ("branch_of", "branch_step"))


def _stored(run_dir: Path) -> Optional[dict]:
    """What a finished, sound run directory holds: {"status", "fingerprint", "payload", "branch_of"}; None for an
    unfinished one, or one whose stored spec no longer produces its run id (harness.store.spec_problem)."""
    try:
        key = tuple((run_dir / name).stat().st_mtime_ns for name in (SPEC_FILE, RESULT_FILE))
    except OSError:
        return None
    cached = _STORED.get(run_dir)
    if cached is not None and cached[0] == key:
        return cached[1]
    result, stored = read_result(run_dir), read_json(run_dir / SPEC_FILE)
    value = None
    if result is not None and stored is not None and not spec_problem(run_dir):
        spec = RunSpec.model_validate(stored)
        value = {"status": result.get("status"), "fingerprint": result.get("corpus_fingerprint"),
                 "payload": spec.outcome_payload(), "branch_of": spec.branch_of}
    _STORED[run_dir] = (key, value)
    return value


def _kin(run_id: str) -> str:
    """A run id's readable part without its token count (role, family, shape, unique-token cap, seed): runs equal
    but for their horizon or trunk share it, so only they need their specs read."""
    return _TOKENS.sub("", run_id.rsplit("-", 1)[0])


def _equals(root: Path, spec: RunSpec, drop: tuple, fingerprint: Optional[str]):
    """Finished runs of ``root`` (other than ``spec``), done on the corpus ``fingerprint`` names (any, if None),
    equal to ``spec`` but for the fields in ``drop``: (run dir, what it holds)."""
    want, kin = _identity(spec.outcome_payload(), drop), _kin(spec.run_id)
    for run_dir in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        if run_dir.name == spec.run_id or _kin(run_dir.name) != kin:
            continue
        held = _stored(run_dir)
        if held is None or held["status"] != "done" or fingerprint not in (None, held["fingerprint"]):
            continue
        if _identity(held["payload"], drop) == want:
            yield run_dir, held


def _points(trunk_dir: Path) -> set[int]:
    return {int(m.group(1)) for p in trunk_dir.iterdir() if (m := _POINT.fullmatch(p.name))}


def shorter_trunk_point(spec: RunSpec, root: Path, fingerprint: Optional[str]) -> Optional[tuple[Path, int]]:
    """The equal trunk of another horizon (a shorter one, when a budget was added) and the step to continue ``spec``
    (a trunk) from, or None.

    A point p serves if p <= the new trunk's steps and every branch point of the new trunk below p is one the old
    trunk kept (the new trunk makes the others itself, after p). The latest such point over all equal trunks wins."""
    best = None
    for trunk_dir, _ in _equals(root, spec, HORIZON_FIELDS, fingerprint):
        points = _points(trunk_dir)
        usable = [p for p in points if p <= spec.steps and all(b in points for b in spec.branch_steps if b < p)]
        if usable and (best is None or max(usable) > best[1]):
            best = (trunk_dir, max(usable))
    return best


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy where links are not possible); kept if already there. Safe
    when several processes (DDP ranks) do it at once."""
    if target.exists():
        return
    try:
        os.link(source, target)
    except FileExistsError:
        return
    except OSError:
        if not source.exists():
            raise
        handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(handle)
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)


def continue_shorter_trunk(spec: RunSpec, run_dir: Path, fingerprint: Optional[str]) -> Optional[Path]:
    """For a trunk starting afresh: note the equal trunk it continues in ``continued_from.json``, begin its metrics
    with that trunk's rows, link the branch points they share (after the metrics, so a branch that starts from one
    finds the trunk's rows) and return the checkpoint to start from; None (and no note) when there is none."""
    from harness.branching import branch_point_path, seed_metrics

    found = shorter_trunk_point(spec, Path(run_dir).parent, fingerprint)
    marker = Path(run_dir) / CONTINUED_FILE
    if found is None:
        marker.unlink(missing_ok=True)
        return None
    source, step = found
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, {"run_id": source.name, "step": step})
    seed_metrics(Path(run_dir), source, step)
    for point in (b for b in spec.branch_steps if b <= step):
        _link(branch_point_path(source, point), branch_point_path(run_dir, point))
    return branch_point_path(source, step)


def continued_from(run_dir: Path, start_step: int) -> Optional[dict]:
    """The trunk a continued trunk started from ({"run_id", "step"}), or None -- also when the run started before
    that step after all (its own checkpoint was unreadable, so it began again from step 0)."""
    marker = Path(run_dir) / CONTINUED_FILE
    source = read_json(marker) if marker.exists() else None
    return source if source and start_step >= source.get("step", 0) else None


def equal_branch_record(spec: RunSpec, root: Path, fingerprint: Optional[str] = None) -> Optional[Path]:
    """A finished branch of ``root`` equal to ``spec`` but for the trunk it names, whose trunk is equal to
    ``spec``'s own but for its horizon (a branch of an LR sweep planned before trunks were split by LR cooled down
    from another LR's trunk: not equal), on the corpus ``fingerprint`` names (any, if None); or None."""
    if not spec.branch_of:
        return None
    trunk = _trunk_view(spec)
    for run_dir, held in _equals(root, spec, ("branch_of",), fingerprint):
        source_trunk = _stored(Path(root) / held["branch_of"]) if held["branch_of"] else None
        if source_trunk is not None and _identity(source_trunk["payload"], HORIZON_FIELDS) == trunk:
            return run_dir
    return None


def reuse_equal_branch(spec: RunSpec, run_dir: Path, source: Path) -> None:
    """Write ``spec``'s record as a copy of its equal's (the caller holds the run's claim): spec.json of ``spec``,
    the metrics as they are, the result with this run's id and trunk and ``reused_from`` naming the source; a
    checkpoint left by an earlier attempt goes."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    result = read_result(source)
    atomic_write_json(run_dir / SPEC_FILE, spec.model_dump(mode="json"))
    metrics = source / METRICS_FILE
    atomic_write_bytes(run_dir / METRICS_FILE, metrics.read_bytes() if metrics.exists() else b"")
    atomic_write_json(run_dir / RESULT_FILE, {**result, "run_id": spec.run_id, "branch_of": spec.branch_of,
                                              "reused_from": source.name})
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
