"""Per-size LR, batch, warm-up and β2 from published rules; LR sweeps and keeping only the best LR per size."""
import pandas as pd
import pytest

from harness.fit.table import data_warnings
from harness.fit.table import best_lr_only
from harness.hparams import deepseek2024, porian2024
from harness.plan import load_and_expand
from harness.store import mark_lr_sweep_best
from tests.conftest import deep_update

SIZED = {"model": {"shapes": [], "sizes": [2e4, 1e5, 5e5], "head_dim": 16, "aspect_ratio": 16},
         "budgets": {"mode": "tokens_per_param", "tokens_per_param": [20]},
         "training": {"batch_tokens": 256, "hparams": {"rule": "porian2024", "min_batch_tokens": 16,
                                                       "max_batch_tokens": 1 << 20}}}


def test_porian_rule_numbers():
    # Porian et al. 2024: LR = 3.7·N^-0.36, batch = 0.00037·N^0.703 sequences of 2048 (values by hand).
    hp = porian2024(1e8)
    assert hp.lr == pytest.approx(0.0048775, rel=1e-4)
    assert hp.batch_tokens == pytest.approx(318810, rel=1e-4)
    assert hp.warmup_tokens == 1e8 and hp.beta2 == 0.99
    assert porian2024(1e7).lr == pytest.approx(0.011174, rel=1e-4)


def test_deepseek_rule_numbers():
    # DeepSeek LLM 2024 Eq. 1: η = 0.3118·C^-0.125, B = 0.2920·C^0.3271 (values by hand at C = 1e18).
    hp = deepseek2024(1e18, 5e6)
    assert hp.lr == pytest.approx(0.00175338, rel=1e-4)
    assert hp.batch_tokens == pytest.approx(225519, rel=1e-4)
    assert hp.beta2 is None


def test_plan_scales_lr_batch_warmup_and_beta2_with_size(sweep_file):
    _, specs = load_and_expand(str(sweep_file(SIZED)))
    specs = sorted(specs, key=lambda s: s.N_with_head)
    lrs, batches = [s.lr for s in specs], [s.batch_size for s in specs]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]
    assert batches == sorted(batches) and batches[0] < batches[-1]
    for s in specs:
        assert s.lr == pytest.approx(porian2024(s.N_with_head).lr)
        assert s.schedule.warmup_fraction * s.tokens == pytest.approx(min(s.N_with_head, 0.5 * s.tokens), rel=0.02)
        assert s.optimizer.beta2 == 0.99 and s.hparam_rule == "porian2024"
        assert (s.batch_size & (s.batch_size - 1)) == 0  # a power of two sequences


def test_deepseek_rule_in_plan(sweep_file):
    _, specs = load_and_expand(str(sweep_file(deep_update(SIZED, {"training": {"hparams": {"rule": "deepseek2024"}}}))))
    for s in specs:
        m = s.flops["full"] - 6 * s.d_model * s.vocab_size  # non-embedding FLOPs/token with attention
        tokens_asked = 20 * s.N_total
        assert s.lr == pytest.approx(0.3118 * (m * tokens_asked) ** -0.125, rel=1e-9)
        assert s.optimizer.beta2 == 0.95


def test_lr_sweep_multiplies_runs_with_distinct_ids(sweep_file):
    _, base = load_and_expand(str(sweep_file(SIZED)))
    _, swept = load_and_expand(str(sweep_file(deep_update(SIZED, {"training": {"lr": {"sweep": [0.5, 1, 2]}}}))))
    assert len(swept) == 3 * len(base) and len({s.run_id for s in swept}) == len(swept)
    one = {s.run_id for s in base}
    assert {s.run_id for s in swept if s.lr_multiplier == 1.0} == one  # the x1 runs are the unswept runs
    for s in swept:
        ref = next(b for b in base if b.d_model == s.d_model and b.tokens == s.tokens)
        assert s.lr == pytest.approx(ref.lr * s.lr_multiplier)


def _table():
    rows = []
    for (d, loss_by_lr) in ((32, {1e-3: 3.0, 2e-3: 2.9, 4e-3: 3.1}), (64, {1e-3: 2.5})):
        for lr, loss in loss_by_lr.items():
            rows.append({"run_id": f"d{d}-{lr}", "status": "done", "family": "gpt2", "n_layer": 2, "d_model": d,
                         "n_head": 2, "d_ff": 4 * d, "D": 1e6, "seed": 0, "lr": lr, "loss": loss, "epochs": 0.5})
    rows.append({**rows[0], "run_id": "failed", "lr": 8e-3, "loss": None, "status": "failed"})
    return pd.DataFrame(rows)


def test_best_lr_per_size_is_marked_and_only_it_is_fitted():
    table = mark_lr_sweep_best(_table())
    best = dict(zip(table["run_id"], table["lr_sweep_best"]))
    assert best == {"d32-0.001": False, "d32-0.002": True, "d32-0.004": False, "d64-0.001": True, "failed": False}
    kept = best_lr_only(table[table["status"] == "done"])
    assert sorted(kept["run_id"]) == ["d32-0.002", "d64-0.001"]
    as_csv = table.astype({"lr_sweep_best": str})  # a table read back from CSV
    assert sorted(best_lr_only(as_csv)["run_id"]) == ["d32-0.002", "d64-0.001"]
    assert any("2 LR-sweep run(s) kept out" in w for w in data_warnings(table))


def test_fit_warns_about_repeated_data():
    table = _table().assign(epochs=[0.5, 2.0, 0.5, 3.5, 0.1])
    notes = data_warnings(table)
    assert any("2 run(s) repeated their training data (up to 3.5 epochs" in w and "d32-0.002" in w for w in notes)


def test_fit_prepare_drops_lr_sweep_losers():
    from harness.fit.laws import get_law
    from harness.fit.table import prepare

    rows = [{"run_id": f"{n:g}-{d:g}", "status": "done", "N_total": n, "D": d, "loss": 2 + 1e3 / n ** 0.3 + 1e3 / d ** 0.3,
             "lr_sweep_best": True} for n in (1e5, 3e5, 1e6, 3e6) for d in (1e6, 3e6, 1e7)]
    losers = [{**r, "run_id": r["run_id"] + "-lr2", "loss": r["loss"] + 1, "lr_sweep_best": False} for r in rows]
    _, y, _, used = prepare(pd.DataFrame(rows + losers), get_law("chinchilla"))
    assert len(y) == len(rows) and not used["run_id"].str.endswith("-lr2").any()


def test_runs_differing_in_something_other_than_lr_all_stay():
    table = _table()
    same_lr = table[table["run_id"].isin(["d32-0.001", "d64-0.001"])].assign(lr=1e-3)
    twins = pd.concat([same_lr, same_lr.assign(run_id=lambda t: t["run_id"] + "-b", loss=9.0)])
    assert mark_lr_sweep_best(twins)["lr_sweep_best"].all()
