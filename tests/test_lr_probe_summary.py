"""scripts/lr_probe_summary.py on the committed LR probe: multipliers recovered from the records, the rule's runs equal
to the replicate sweep's runs trained separately, and the best LR removing the run the fit warnings name."""
from harness.config import load_sweep
from harness.store import load_done_runs
from tests.conftest import REPO, load_script


def test_the_probe_reads_its_multipliers_and_its_rule_runs_match_the_replicate_exactly(capsys, monkeypatch):
    script = load_script("lr_probe_summary")
    table = script.by_multiplier(load_done_runs([REPO / "results/reference/ground_truth_replicate_lr"]),
                                 load_sweep(REPO / "sweeps/ground_truth_replicate_lr.yaml").training.lr)
    assert sorted(table["multiplier"].unique()) == [0.25, 0.5, 1.0, 2.0] and len(table) == 32
    monkeypatch.chdir(REPO)
    monkeypatch.setattr("sys.argv", ["lr_probe_summary.py"])
    script.main()
    out = capsys.readouterr().out
    assert "(8 runs): largest difference 0.00e+00 nats (identical)" in out
    assert "the rule's LR: 1 run(s)" in out and "gpt2-L2-d64-D2.0e06" in out and "best LR per size: none" in out
