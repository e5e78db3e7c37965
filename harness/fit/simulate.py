"""Draw synthetic sweeps from any law, to plan sweeps and check that the fitter recovers what it was given."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from harness.fit.laws import Law, get_law

if TYPE_CHECKING:   # imported where a table is made: `import harness.fit` (and `harness fit`) stays free of pandas
    import pandas as pd

C_FACTOR = 6.0


def sweep_grid(n_values, tokens_per_param=None, budgets=None) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) for every N × tokens-per-parameter pair, or every N × compute budget (D = C/(6N))."""
    n = np.asarray(n_values, float)
    if budgets is not None:
        nn, cc = np.meshgrid(n, np.asarray(budgets, float), indexing="ij")
        return nn.ravel(), (cc / (C_FACTOR * nn)).ravel()
    ratios = np.asarray(tokens_per_param if tokens_per_param is not None else [5, 10, 20, 40, 80], float)
    nn, rr = np.meshgrid(n, ratios, indexing="ij")
    return nn.ravel(), (nn * rr).ravel()


def simulate(law: str | Law, params: dict, N=None, D=None, noise: float = 0.01, seed: int = 0,
             U=None, C=None, noise_kind: str = "lognormal") -> pd.DataFrame:
    """A table (N, D, C = 6ND, loss, loss_true[, U]) drawn from ``law`` with ``params`` (natural names).

    noise: standard deviation of log(loss) (lognormal, default) or of loss itself (``noise_kind="normal"``);
    arrays N, D (and U, or C for one-variable laws in C) are broadcast together."""
    import pandas as pd

    law_obj = get_law(law) if isinstance(law, str) else law
    given = {k: v for k, v in {"N": N, "D": D, "U": U, "C": C}.items() if v is not None}
    arrays = np.broadcast_arrays(*[np.asarray(v, float) for v in given.values()])
    table = pd.DataFrame({k: a.ravel() for k, a in zip(given, arrays)})
    if "C" not in table and {"N", "D"} <= set(table):
        table["C"] = C_FACTOR * table["N"] * table["D"]
    true = law_obj.predict(params, **{v: table[v].to_numpy() for v in law_obj.variables})
    rng = np.random.default_rng(seed)
    if noise_kind == "lognormal":
        loss = true * np.exp(noise * rng.standard_normal(len(table)))
    elif noise_kind == "normal":
        loss = true + noise * rng.standard_normal(len(table))
    else:
        raise ValueError(f"noise_kind: unknown '{noise_kind}' (lognormal or normal)")
    table["loss_true"], table["loss"] = true, loss
    table["seed"] = seed
    return table


def recovery(law: str, params: dict, n_sweeps: int, fit_kwargs: Optional[dict] = None, seed: int = 0,
             **sim_kwargs) -> pd.DataFrame:
    """Simulate ``n_sweeps`` sweeps, fit each, and tabulate each parameter's estimate and CI against the truth
    (columns sweep, param, true, estimate, low, high, covered)."""
    import pandas as pd

    from harness.fit.fitting import fit_law

    rows = []
    for i in range(n_sweeps):
        table = simulate(law, params, seed=seed + i, **sim_kwargs)
        fit = fit_law(table, law=law, seed=seed + i, **(fit_kwargs or {}))
        for name, true in params.items():
            low, high = fit.ci.get(name, [np.nan, np.nan])
            rows.append({"sweep": i, "param": name, "true": true, "estimate": fit.params[name], "low": low,
                         "high": high, "covered": bool(low <= true <= high)})
    return pd.DataFrame(rows)
