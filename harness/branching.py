"""Cooldown branching (WSD): one constant-LR trunk per (size, seed); every budget is a branch cooling down off it.

Planning (:func:`branch_plan`, called by :func:`harness.plan.expand` when ``budgets.branching: wsd``): the
runs of a grid or tokens_per_param sweep become one trunk per (size, seed), listed first, and one branch
per budget. The warm-up is shared: ``warmup_fraction`` × the smallest budget's steps, for the trunk and all
its branches. The trunk then holds the peak LR; after each branch's ``decay_start`` step, (1 − f)·D_i,
it saves a branch-point checkpoint (model + optimizer + loop state) that is kept. A branch is an ordinary
run record (WSD schedule ending exactly at its budget D_i, ``branch_of`` naming the trunk) that starts
from that checkpoint instead of from step 0. Data order is a function of (seed, step), so it ends exactly
where a single WSD run with the same warm-up would.

Sweep (:func:`branch_worker_loop`, used by :func:`harness.sweep.worker_loop` for such plans): a branch
whose branch point is not there yet is 'waiting'; the worker trains what it can and comes back, retrying
the trunk (to take it over if its worker died) until the point appears, the trunk fails, or the trunk
has diverged before it (the branch then gets a 'diverged' record, as the single WSD run would have).
"""
from __future__ import annotations

import json
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Optional

import pandas as pd

from harness.config import BudgetConfig
from harness.errors import ConfigError
from harness.plan import RunSpec, make_run_id, plan_table
from harness.schedule import decay_start, warmup_steps
from harness.store import (
    CHECKPOINT_FILE, METRICS_FILE, RESULT_FILE, SPEC_FILE, atomic_write_bytes, atomic_write_json, read_metrics,
    read_result,
)


def branch_point_path(trunk_dir: Path, step: int) -> Path:
    """The kept checkpoint of a trunk after ``step`` optimiser steps."""
    return Path(trunk_dir) / f"branch-{step:09d}.pt"


def branch_plan(specs: list[RunSpec], budgets: BudgetConfig) -> list[RunSpec]:
    """Independent runs → trunks (first, by size and seed) and branches (in the runs' order)."""
    groups: dict[str, list[RunSpec]] = defaultdict(list)
    for spec in specs:
        groups[_trunk_key(spec)].append(spec)
    trunks, branch_of = [], {}
    for key, group in groups.items():
        trunk, branches = _branch_group(sorted(group, key=lambda s: s.steps), budgets)
        trunks.append(trunk)
        branch_of.update({(key, b.steps): b for b in branches})
    ordered = [branch_of[(_trunk_key(s), s.steps)] for s in specs]
    return sorted(trunks, key=lambda s: (s.N_total, s.seed)) + list({b.run_id: b for b in ordered}.values())


def _trunk_key(spec: RunSpec) -> str:
    """Runs sharing a trunk: equal in every run-id field but their budget (steps, tokens) -- same model, seed and
    data, and the same LR (an LR-sweep multiplier included), batch and schedule, which a per-size or per-budget
    rule may set differently. The warm-up fraction is left out: a per-budget one (Porian et al.'s warm-up = N tokens)
    is replaced by the trunk's shared warm-up anyway (:func:`_branch_group`)."""
    payload = {k: v for k, v in spec.outcome_payload().items() if k not in ("steps", "tokens")}
    payload["schedule"] = {k: v for k, v in payload["schedule"].items() if k != "warmup_fraction"}
    return json.dumps(payload, sort_keys=True, default=str)


def _branch_group(group: list[RunSpec], budgets: BudgetConfig) -> tuple[RunSpec, list[RunSpec]]:
    """One (size, seed): its trunk and the branches, one per budget (sorted by steps)."""
    base = group[0].schedule
    warm = warmup_steps(base, group[0].steps)
    schedule = base.model_copy(update={"kind": "wsd", "cooldown_fraction": budgets.cooldown_fraction,
                                       "cooldown_shape": budgets.cooldown_shape, "warmup_steps": warm})
    starts = [decay_start(schedule, s.steps) for s in group]
    for spec, start in zip(group, starts):
        if start < 1 or spec.steps - start != max(1, round(budgets.cooldown_fraction * spec.steps)):
            raise ConfigError(f"budgets: {spec.budget} ({spec.steps} steps) is too short for a {warm}-step warm-up "
                              f"and a {budgets.cooldown_fraction:g} cooldown; drop it or lower warmup_fraction")
    longest = group[-1]
    trunk = longest.model_copy(update={
        "steps": max(starts), "tokens": max(starts) * longest.batch_size * longest.context_length,
        "schedule": schedule.model_copy(update={"kind": "constant"}), "branch_steps": sorted(set(starts)),
        "budget": "trunk", "run_id": ""})
    trunk = trunk.model_copy(update={"run_id": make_run_id(trunk)})
    branches = []
    for spec, start in zip(group, starts):
        branch = spec.model_copy(update={"schedule": schedule, "branch_of": trunk.run_id, "branch_step": start})
        branches.append(branch.model_copy(update={"run_id": make_run_id(branch)}))
    return trunk, branches


def trained_tokens(spec: RunSpec) -> int:
    """Tokens this run itself trains: a branch only its cooldown, a trunk and an ordinary run all of theirs."""
    return (spec.steps - spec.branch_step) * spec.batch_size * spec.context_length


def longest_first(specs: list[RunSpec]) -> list[RunSpec]:
    """The specs by descending training cost (N_total × tokens it trains itself), ties in plan order: every worker
    goes through the same list, so the largest trunk starts first and stops being the sweep's critical path
    (the longest-processing-time rule); branches still wait for their trunk's branch point."""
    return sorted(specs, key=lambda s: -s.N_total * trained_tokens(s))


def branch_plan_table(specs: list[RunSpec]) -> pd.DataFrame:
    """:func:`harness.plan.plan_table` plus each run's role, the trunk step it starts from and its own tokens."""
    table = plan_table(specs)
    table.insert(1, "role", ["trunk" if s.branch_steps else "branch" if s.branch_of else "run" for s in specs])
    table["from_step"] = [s.branch_step for s in specs]
    table["D_trained"] = [trained_tokens(s) for s in specs]
    return table


def token_comparison(specs: list[RunSpec]) -> pd.DataFrame:
    """Per (size, seed) and in total: tokens of independent runs (Σ D_i), of the branched plan, and the ratio."""
    rows = {}
    for s in specs:
        row = rows.setdefault((s.N_total, s.seed), {"N_total": s.N_total, "seed": s.seed, "budgets": 0,
                                                    "D_independent": 0, "D_branched": 0})
        row["D_branched"] += trained_tokens(s)
        if not s.branch_steps:
            row["budgets"] += 1
            row["D_independent"] += s.tokens
    table = pd.DataFrame(list(rows.values()))
    total = {"N_total": "all", "seed": "", "budgets": int(table["budgets"].sum()),
             "D_independent": int(table["D_independent"].sum()), "D_branched": int(table["D_branched"].sum())}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["ratio"] = table["D_branched"] / table["D_independent"]
    return table


def role_fields(spec: RunSpec) -> dict:
    """What a run's record says about branching (empty for an ordinary run)."""
    if spec.branch_steps:
        return {"role": "trunk", "branch_steps": list(spec.branch_steps)}
    if spec.branch_of:
        return {"role": "branch", "branch_of": spec.branch_of, "branch_step": spec.branch_step}
    return {}


def start_checkpoint(spec: RunSpec, run_dir: Path, fingerprint: Optional[str] = None) -> Path:
    """The checkpoint a run starts from: its own (resume), else a branch's trunk branch point, else for a trunk the
    latest usable point of an equal shorter trunk on the same corpus (harness.continuation)."""
    own = Path(run_dir) / CHECKPOINT_FILE
    if own.exists():
        return own
    if spec.branch_steps:
        from harness.continuation import continue_shorter_trunk

        return continue_shorter_trunk(spec, Path(run_dir), fingerprint) or own
    if not spec.branch_of:
        return own
    point = branch_point_path(Path(run_dir).parent / spec.branch_of, spec.branch_step)
    if not point.exists():
        warnings.warn(f"{point}: branch point missing; training {spec.run_id} from step 0 as a single WSD run "
                      "(same result, more compute)", stacklevel=2)
        return own
    return point


def seed_branch_metrics(spec: RunSpec, run_dir: Path, step: int) -> None:
    """A branch starting from its trunk begins its metrics with the trunk's rows up to the branch point."""
    if spec.branch_of and step == spec.branch_step and step:
        seed_metrics(Path(run_dir), Path(run_dir).parent / spec.branch_of, step)


def seed_metrics(run_dir: Path, source_dir: Path, step: int) -> None:
    """Begin ``run_dir``'s metrics with ``source_dir``'s rows up to ``step``, unless its own rows already reach as far
    (a resume); rows of an earlier attempt that stop short of it are replaced."""
    path = Path(run_dir) / METRICS_FILE
    rows = [r for r in read_metrics(Path(source_dir) / METRICS_FILE) if r.get("step", 0) <= step]
    own = read_metrics(path)
    if own and max(r.get("step", 0) for r in own) >= max((r.get("step", 0) for r in rows), default=0):
        return
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def branch_readiness(spec: RunSpec, root: Path, fingerprint: Optional[str] = None) -> str:
    """'go' (an ordinary run, a branch that can start or resume, or one with an equal finished record on the corpus
    ``fingerprint`` names, harness.continuation), 'waiting' or 'diverged' (its trunk did)."""
    if not spec.branch_of:
        return "go"
    from harness.continuation import equal_branch_record

    run_dir, trunk_dir = Path(root) / spec.run_id, Path(root) / spec.branch_of
    if any(p.exists() for p in (run_dir / RESULT_FILE, run_dir / CHECKPOINT_FILE,
                                branch_point_path(trunk_dir, spec.branch_step))):
        return "go"
    if equal_branch_record(spec, root, fingerprint) is not None:  # run_one reuses its record
        return "go"
    trunk = read_result(trunk_dir)
    if trunk is None:
        return "waiting"
    return "diverged" if trunk.get("status") == "diverged" else "go"


def inherited_divergence(spec: RunSpec, trunk: dict) -> dict:
    """The record of a branch whose trunk diverged before its branch point (so would the single WSD run)."""
    flops, tokens = spec.flops, spec.tokens
    own = {k: v for k, v in trunk.items() if k != "branch_steps"}
    return {**own, **role_fields(spec), "run_id": spec.run_id, "status": "diverged",
            "reason": f"trunk {spec.branch_of} diverged before step {spec.branch_step}: {trunk.get('reason', '')}",
            "D": tokens, "C": flops["6N_total"] * tokens, "C_kaplan": flops["6N_nonembed"] * tokens,
            "C_full": flops["full"] * tokens, "tokens_per_param": tokens / spec.N_total, "steps": spec.steps,
            "epochs": (trunk.get("epochs") or 0) * tokens / max(1, trunk.get("D") or 1), "loss": None,
            "loss_se": None, "loss_bpb": None, "loss_bpb_se": None, "wall_time_s": 0.0, "tokens_per_s": 0.0,
            "mfu": None, "resumed_from_step": 0}


def record_inherited_divergence(spec: RunSpec, root: Path, owner: str, lease_s: float) -> str:
    """Write a diverged record for a branch whose trunk diverged first, under the branch's claim."""
    from harness.claims import Claim

    run_dir = Path(root) / spec.run_id
    if read_result(run_dir) is not None:
        return "skipped"
    claim = Claim(run_dir, owner, lease_s=lease_s)
    if not claim.acquire():
        return "busy"
    try:
        if read_result(run_dir, quarantine=True) is not None:
            return "skipped"
        atomic_write_json(run_dir / SPEC_FILE, spec.model_dump(mode="json"))
        atomic_write_json(run_dir / RESULT_FILE, inherited_divergence(spec, read_result(Path(root) / spec.branch_of)))
        return "trained"
    finally:
        claim.release()


def _trunk_failed(spec: RunSpec, root: Path) -> str:
    atomic_write_json(Path(root) / spec.run_id / "failure.json",
                      {"run_id": spec.run_id, "error": f"its trunk {spec.branch_of} failed (see its failure.json)"})
    return "failed"


def _still_waiting(waiting: list[RunSpec], final: dict, by_id: dict, root: Path) -> list[RunSpec]:
    """Branches to retry, preceded by their trunks that another worker holds (taken over if it died)."""
    retry = []
    for spec in waiting:
        if final.get(spec.branch_of) == "failed":
            final[spec.run_id] = _trunk_failed(spec, root)
        else:
            retry.append(spec)
    trunks = dict.fromkeys(s.branch_of for s in retry)
    return [by_id[t] for t in trunks if t in by_id and final.get(t) in (None, "busy")] + retry


def corpus_fingerprint(spec: RunSpec, root: Path, options) -> str:
    """The fingerprint of the corpus ``spec`` trains on (its token cache, as training opens it)."""
    from harness.data.corpus import load_corpus

    return load_corpus(spec.data, options.train.cache_root or Path(root).parent / ".cache" / "tokens").fingerprint


def _process_state():
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())  # as run_one makes it


def _agreed(decision: str) -> str:
    """Under a multi-process (DDP) launch, every rank follows rank 0's reading of the files."""
    if _process_state().num_processes == 1:
        return decision
    from accelerate.utils import broadcast_object_list

    shared = [decision]
    broadcast_object_list(shared, from_process=0)
    return shared[0]


def branch_worker_loop(specs: list[RunSpec], root: Path, options, poll_s: float = 1.0):
    """:func:`harness.sweep.worker_loop` for a plan with branches: waiting branches are retried until ready."""
    from tqdm.auto import tqdm

    from harness.claims import new_owner_id
    from harness.sweep import SweepOutcome, run_one

    owner, final, by_id, pending = new_owner_id(), {}, {s.run_id: s for s in specs}, longest_first(specs)
    fingerprint = corpus_fingerprint(specs[0], Path(root), options) if specs else None  # one data setting per sweep
    bar = tqdm(total=len(specs), desc=f"sweep {Path(root).name}", unit="run", position=0,
               disable=None if options.train.progress else True)
    while pending:
        waiting = []
        for spec in pending:
            ready = _agreed(branch_readiness(spec, root, fingerprint))
            if ready == "waiting":
                waiting.append(spec)
            elif ready == "diverged":  # under DDP, rank 0 alone writes the record
                main = _process_state().is_main_process
                final[spec.run_id] = record_inherited_divergence(spec, root, owner, options.lease_s) if main else "skipped"
            else:
                final[spec.run_id] = run_one(spec, root, owner, options)
        pending = _still_waiting(waiting, final, by_id, root)
        bar.n = len(final)
        bar.refresh()
        if pending:
            time.sleep(poll_s)
    bar.close()
    outcome = SweepOutcome()
    for spec in specs:
        getattr(outcome, final[spec.run_id]).append(spec.run_id)
    return outcome
