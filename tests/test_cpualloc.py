"""The CPU allocator tuning (harness.cpualloc): a training step stops page-faulting its activations back in."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

STEP_FAULTS = """
import resource, sys, torch, torch.nn.functional as F
from harness.cpualloc import keep_freed_memory
from harness.model import build_model
from harness.sizing import ModelShape
torch.set_num_threads(1)
tuned = keep_freed_memory()
model = build_model("gpt2", ModelShape(n_layer=2, d_model=64, n_head=2, d_ff=256), 256, 128)
x = torch.randint(0, 256, (32, 129))
def step():
    F.cross_entropy(model(input_ids=x[:, :-1]).logits.flatten(0, 1), x[:, 1:].flatten()).backward()
    model.zero_grad(set_to_none=True)
step(); step()
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(tuned, sorted(faults)[5], sum(faults))
"""


def _faults(keep: str) -> tuple[bool, int, int]:
    """(tuned, median, total) minor page faults of 10 training steps after 2 warm-up steps, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HARNESS_KEEP_FREED_MEMORY": keep}
    out = subprocess.run([sys.executable, "-c", STEP_FAULTS], env=env, capture_output=True, text=True, timeout=120)
    tuned, median, total = out.stdout.split()[-3:]
    return tuned == "True", int(median), int(total)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_tuned_process_reuses_activation_memory_instead_of_faulting_it_in():
    # the better of two tuned processes: on a loaded machine a rare step of one of them faults thousands of pages
    # (seen once in a full-suite run: totals 3177 vs 5893 untuned, the next run 0)
    (tuned, median, total), again = _faults("1"), _faults("1")
    median, total = min(median, again[1]), min(total, again[2])
    untuned, _, default_total = _faults("0")  # HARNESS_KEEP_FREED_MEMORY=0: glibc's defaults
    assert tuned and again[0] and not untuned
    # measured: tuned steps fault 0 times (a rare step a thousand); default steps 0-10,000 times, 9-21K in all
    assert median < 10 and default_total > 2000 and total < default_total / 3, (median, total, default_total)
