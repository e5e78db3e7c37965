"""``harness fit`` and ``harness simulate``: thin wrappers over the fitter. User mistakes: one line, exit 2."""
from __future__ import annotations

import atexit
import gc
import json
from pathlib import Path
from typing import Optional

import typer

from harness.cli.families import BY_HELP, check_by, fit_by
from harness.cli.fit_laws import fit_laws, law_names
from harness.cli.options import MAX_BOOTSTRAP, results_option
from harness.errors import ConfigError


def _fail(message: str) -> None:
    """Print the one-line error and exit 2 (SystemExit: works under plain typer apps and harness.cli.main alike)."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(2)


_FINAL_COLLECTION: list = []   # [True] once _skip_final_collection has been registered


def _skip_final_collection() -> None:
    """End the process without the interpreter's final garbage collections, which walk every object left only to free
    memory the process hands back anyway: ~0.05 s of `harness fit` on the idle 2-core machine, 0.13 s under load
    (``gc.freeze`` at exit). atexit handlers registered later (multiprocessing's, logging's) still run first, and
    objects are still released by reference counting; only cycles left at exit go unfinalized, which Python never
    promises to finalize anyway."""
    if not _FINAL_COLLECTION:
        _FINAL_COLLECTION.append(True)
        atexit.register(gc.freeze)


def _load(source: Optional[str], dataset: Optional[str], data_dir: Optional[Path], results: Path, columns: dict,
          all_runs: bool = False, numbers: bool = False):
    """(runs table, where it came from). With ``numbers`` (a plain fit, which needs nothing of pandas), a CSV or data
    set of plain numbers comes back as ``harness.fit.columns.Columns``, read without importing pandas."""
    from harness.fit.table import read_csv, rename_columns

    if dataset:
        from harness.fit.datasets import dataset_numbers, load_dataset  # urllib: only when a data set is asked for

        table = dataset_numbers(dataset, data_dir) if numbers else None
        return (load_dataset(dataset, data_dir) if table is None else table), f"dataset {dataset}"
    if not source:
        raise ConfigError("fit: give a sweep, a CSV file or --dataset NAME")
    if source.endswith(".csv"):
        return read_csv(source, columns, numbers=numbers), source
    from harness.store import load_table  # lazily: the store is another room's module

    return rename_columns(load_table(source, results, all_runs=all_runs), columns, source), source


def _seed_points(table, where: str, space: str):
    """The per-(N, D) seed means of a run table and their inverse-variance weights (ConfigError if unusable)."""
    from harness.store import aggregate_seeds, seed_variance_weights

    if not {"seed", "N", "D", "loss"} <= set(table.columns):
        raise ConfigError(f"{where}: --weights seed-variance needs a run table with N, D, loss and seed columns")
    points = aggregate_seeds(table)
    try:
        return points, seed_variance_weights(points, space).to_numpy()
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _needs_u(table, law: str, where: str) -> None:
    """A data-constrained fit of records without U (made before data.unique_tokens existed) fails with a hint."""
    if law == "data_constrained" and "U" in table and "run_id" in table and table["U"].isna().all():
        raise ConfigError(f"{where}: the records carry no U (unique training tokens, recorded since "
                          f"data.unique_tokens): rerun the sweep, or fit a CSV with --col-U")


def _objective_text(result: dict) -> str:
    """'huber (delta=0.001, space=log, reduction=sum)'; delta only where the objective has one (huber)."""
    options = {k: v for k, v in result["objective_options"].items() if k != "delta" or result["objective"] == "huber"}
    text = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items())
    return f"{result['objective']} ({text})"


def _with_metric(table, metric: str, col_loss: Optional[str], where: str):
    """The table with ``--metric`` as its loss column (harness.fit.table.metric_as_loss)."""
    from harness.fit.table import metric_as_loss

    if metric != "loss" and col_loss:
        raise ConfigError("--metric and --col-loss both name the fitted column; give one")
    return metric_as_loss(table, metric, where)


def _format_table(result: dict) -> str:
    metric = f"metric {result['metric']} (fitted in place of the loss); " if result.get("metric") else ""
    lines = [f"{metric}law {result['law']}, objective {_objective_text(result)}, "
             f"{result['n_points']} points, N convention {result['n_convention']}, {result['c_convention']}",
             f"objective value {result['objective_value']:.10g}; {result['n_best_basin']} of {result['n_starts']} "
             f"starts reached the best basin; converged: {result['converged']}",
             f"{'parameter':>28} {'estimate':>12} {'SE':>10} {'CI low':>12} {'CI high':>12}"]
    for group in ("params", "derived"):
        for name, value in result[group].items():
            lo, hi = result["ci"].get(name, [None, None])
            se = result["se"].get(name) if group == "params" else None
            cells = [f"{v:12.5g}" if v is not None else f"{'':>12}" for v in (value, lo, hi)]
            se_text = f"{se:10.3g}" if se is not None else f"{'':>10}"
            lines.append(f"{name:>28} {cells[0]} {se_text} {cells[1]} {cells[2]}")
    lines += [_profile_line(name, bounds) for name, bounds in (result.get("profile_bounds") or {}).items()]
    boot = result.get("bootstrap") or {}
    if boot.get("requested"):
        lines.append(f"bootstrap ({boot.get('method')}): {boot['used']} of {boot['requested']} resamples used, "
                     f"{boot['failed']} did not converge and were left out")
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def _profile_line(name: str, bounds: list) -> str:
    """'E < 3.14, not identified below' from profile-likelihood bounds [low or None, high or None]."""
    low, high = bounds
    if low is None and high is None:
        return f"{name}: not identified (flat profile on both sides): no interval"
    if low is None:
        return f"{name} < {high:.4g}, not identified below (profile likelihood)"
    return f"{name} > {low:.4g}, not identified above (profile likelihood)"


def register(app: typer.Typer) -> None:
    """Add the ``fit`` and ``simulate`` subcommands to ``app``."""

    @app.command("fit")
    def fit(source: Optional[str] = typer.Argument(None, help="Sweep name/YAML or a CSV of runs (N, D or C, loss)."),
            law: str = typer.Option("chinchilla", help="Law to fit (chinchilla, coupled, kaplan, data_constrained, power_N "
                                  "…), or several separated by commas (chinchilla,coupled) to weigh them by AICc."),
            objective: str = typer.Option("huber", help="huber, mse or lad."),
            delta: float = typer.Option(1e-3, help="Huber delta, > 0 (huber objective only)."),
            space: str = typer.Option("log", help="Residuals on log loss (log) or loss (linear)."),
            reduction: str = typer.Option("sum", help="sum (default) or mean over points."),
            approach: int = typer.Option(3, min=1, max=3, help="Hoffmann et al.'s approach: 3 the parametric law "
                                         "(default); 1 training-curve envelope (a sweep's curves) or 2 IsoFLOP "
                                         "parabolas give N_opt ∝ C^a, D_opt ∝ C^b."),
            bootstrap: int = typer.Option(1000, min=0, max=MAX_BOOTSTRAP,
                                          help=f"Bootstrap resamples over runs (0: none; at most {MAX_BOOTSTRAP})."),
            seed: int = typer.Option(0, min=0, help="Bootstrap seed (a non-negative integer)."),
            bootstrap_method: Optional[str] = typer.Option(None, help="pairs (default) or residual: what a bootstrap resample redraws."),
            n_convention: str = typer.Option("total", help="total, non_embedding or with_head parameter counts."),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
            dataset: Optional[str] = typer.Option(None, help="A public data set (chinchilla-epoch, openathena, kyo …)."),
            data_dir: Optional[Path] = typer.Option(None, help="Read --dataset from this folder instead of fetching."),
            results: Path = results_option(),
            col_n: Optional[str] = typer.Option(None, "--col-N", help="CSV column holding N."),
            col_d: Optional[str] = typer.Option(None, "--col-D", help="CSV column holding D."),
            col_c: Optional[str] = typer.Option(None, "--col-C", help="CSV column holding C."),
            col_loss: Optional[str] = typer.Option(None, "--col-loss", help="CSV column holding the loss."),
            col_u: Optional[str] = typer.Option(None, "--col-U", help="CSV column holding U, the unique tokens (data_constrained)."),
            all_runs: bool = typer.Option(False, "--all", help="Also read records of runs no longer in the plan."),
            weights: str = typer.Option("none", help="none, or seed-variance: fit the per-(N, D) means over seeds, "
                                        "weighted by the inverse variance of each mean (sweeps with several seeds)."),
            metric: str = typer.Option("loss", help="Recorded column to fit in place of the loss (brier, ece, "
                                                    "brier_reliability, loss_bpb …)."),
            by: Optional[str] = typer.Option(None, "--by", help=BY_HELP)) -> None:
        """Fit a scaling law (approach 3) with bootstrap CIs, warnings and derived quantities."""
        from harness.fit.fitting import fit_law

        _skip_final_collection()
        try:
            if weights not in ("none", "seed-variance"):
                raise ConfigError(f"--weights: expected none or seed-variance, got '{weights}'")
            laws = law_names(law)
            if len(laws) > 1 and (by or weights != "none"):
                raise ConfigError(f"--law {law}: several laws are weighed on one plain fit; not with --by or --weights")
            if approach != 3:  # the compute-optimal frontier by approach 1 or 2
                names = {"N": col_n, "D": col_d, "C": col_c, "loss": col_loss}
                loaded = _load(source, dataset, data_dir, results, names, all_runs)
                return _frontier(approach, source, loaded, results, n_convention, bootstrap, seed, as_json)
            check_by(by)
            columns = {"N": col_n, "D": col_d, "C": col_c, "loss": col_loss, "U": col_u}
            plain = not by and metric == "loss" and weights == "none"
            table, where = _load(source, dataset, data_dir, results, columns, all_runs, numbers=plain)
            for name in laws:
                _needs_u(table, name, where)
            if by:  # one fit per family (harness.families)
                options = dict(law=law, objective=objective, delta=delta, space=space, reduction=reduction,
                               bootstrap=bootstrap, seed=seed, n_convention=n_convention,
                               **({"bootstrap_method": bootstrap_method} if bootstrap_method else {}))
                return fit_by(table, by, options, as_json, _format_table)
            table = _with_metric(table, metric, col_loss, where)
            if len(laws) > 1:
                return fit_laws(table, where, laws, dict(
                    objective=objective, delta=delta, space=space, reduction=reduction, bootstrap=bootstrap, seed=seed,
                    n_convention=n_convention, **({"bootstrap_method": bootstrap_method} if bootstrap_method else {})),
                    as_json, _format_table)
            fit_weights = None
            if weights == "seed-variance":
                table, fit_weights = _seed_points(table, where, space)
            try:
                result = fit_law(table, law=law, weights=fit_weights, objective=objective, delta=delta, space=space, reduction=reduction,
                                 bootstrap=bootstrap, seed=seed, n_convention=n_convention,
                                 **({"bootstrap_method": bootstrap_method} if bootstrap_method else {})
                                 ).to_dict(samples=False)
                result = {**result, "metric": metric} if metric != "loss" else result
            except ValueError as exc:
                raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
        except ConfigError as exc:
            _fail(str(exc))
        typer.echo(json.dumps(result, indent=1) if as_json else _format_table(result))

    @app.command("simulate")
    def simulate_cmd(law: str = typer.Option("chinchilla", help="Law to draw from."),
                     params: str = typer.Option("E=1.8172,A=477.8,B=2143,alpha=0.3473,beta=0.3672",
                                                help="Natural parameters, NAME=VALUE,…"),
                     n: str = typer.Option("1e7,3e7,1e8,3e8,1e9", "--N", help="Model sizes, comma-separated."),
                     tokens_per_param: str = typer.Option("5,10,20,40,80", help="D/N ratios, comma-separated."),
                     budgets: Optional[str] = typer.Option(None, help="Compute budgets (IsoFLOP design) instead."),
                     noise: float = typer.Option(0.01, min=0, help="Standard deviation of log loss."),
                     seed: int = typer.Option(0, min=0, help="Random seed (a non-negative integer)."),
                     out: Optional[Path] = typer.Option(None, help="Write the CSV here (default: stdout).")) -> None:
        """Draw a synthetic sweep (N, D, C, loss) from a law, to plan sweeps and check recovery."""
        from harness.fit.simulate import simulate, sweep_grid

        try:
            values = {k: _numbers(v, "--params") for k, v in (p.split("=", 1) for p in params.split(",") if "=" in p)}
            grid = sweep_grid(_numbers(n, "--N"), _numbers(tokens_per_param, "--tokens-per-param"),
                              _numbers(budgets, "--budgets") if budgets else None)
            table = simulate(law, {k: float(v[0]) for k, v in values.items()}, N=grid[0], D=grid[1], noise=noise,
                             seed=seed)
        except (ConfigError, KeyError, ValueError) as exc:
            _fail(f"simulate: {str(exc).splitlines()[0]}")
        text = table.to_csv(index=False)
        if out:
            out.write_text(text)
        else:
            typer.echo(text, nl=False)


def _frontier(approach: int, source: Optional[str], loaded: tuple, results: Path, n_convention: str,
              bootstrap: int, seed: int, as_json: bool) -> None:
    """``harness fit --approach 1|2``: print the frontier exponents of ``loaded`` (table, where) (ConfigError for
    what the input cannot give)."""
    from harness.fit.approaches import approach_1, approach_2

    table, where = loaded
    if n_convention != "total":
        raise ConfigError(f"--n-convention {n_convention}: approaches 1 and 2 use total N with C = 6·N·D")
    if approach == 1:
        if not source or source.endswith(".csv"):
            raise ConfigError(f"--approach 1: {where} has no training curves; give a sweep name or YAML")
        from harness.store import load_metrics, resolve_sweep_source

        result = approach_1(table, load_metrics(resolve_sweep_source(source, results)), bootstrap, seed)
    else:
        result = approach_2(table, bootstrap, seed)
    if result.error:
        raise ConfigError(f"{where}: approach {approach} ({result.name}): {result.error}")
    typer.echo(json.dumps(result.to_dict(), indent=1) if as_json else _frontier_text(result))


def _frontier_text(result) -> str:
    level = f"{100 * result.level:.0f}%"
    lines = [f"approach {result.approach} ({result.name}), {result.points} frontier points, N {result.n_convention}",
             f"a = {result.a:.4g} [{result.a_ci[0]:.4g}, {result.a_ci[1]:.4g}]  (N_opt ∝ C^a, {level})",
             f"b = {result.b:.4g} [{result.b_ci[0]:.4g}, {result.b_ci[1]:.4g}]  (D_opt ∝ C^b, {level})",
             f"interval: {result.interval}"]
    for p in result.extra.get("parabolas", ()):
        lines.append(f"budget C={p['C']:.3g}: N_opt {p['n_opt']:.4g}, loss {p['loss_opt']:.4g}, "
                     f"{p['n_points']} sizes, {'interior' if p['interior'] else 'EDGE (left out)'}")
    return "\n".join(lines + [f"warning: {w}" for w in result.warnings])


def _numbers(text: str, option: str) -> list:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated numbers, got '{text}'") from None
