"""Held-out CPS benchmark of the forest methods against their peers.

Tasks are built from the bundled sample ``data/cps_bench.parquet`` (see
``make_bench_data.py`` for its source): a random part of the rows becomes
the donor, another the recipients, whose block is hidden and then scored.

Methods: surveyfuse's ``hotdeck``, ``qrf`` and ``forest`` (run through the
Imputer with the task's constraints declared, as a user would); ``marginal``,
a predictor-blind yardstick that draws donor records by weight alone, so the
table shows how much the predictors can tell about each block; PolicyEngine's
``microimpute`` QRF (optional: ``pip install --ignore-requires-python
microimpute==3.1.4``; row skipped when not importable); R ``mice`` with pmm
through ``Rscript`` (row skipped when Rscript or mice is missing).

Scores (see :mod:`surveyfuse.evaluate.scores`), weighted by the recipients'
survey weights: energy score of the block standardised by the donor's mean
and sd; per-variable pinball loss (standardised, averaged over variables);
randomised-PIT coverage of the central 90% (averaged over variables); share
of imputed records breaking a declared constraint (after surveyfuse's own
redraw/repair, which is counted separately as ``fixed``); fit + sample seconds.

    python python/benchmarks/bench_forest.py [--donors 8000] [--recipients 2000] [--draws 20]
        [--tasks investment,wages,deductions,benefits,retirement,self_employment] [--methods hotdeck,qrf,forest,microimpute,mice,marginal]
        [--seeds 0,1,2]          # repeat on independent splits, then summarise the ratios
        [--params '{"forest": {"min_samples_leaf": 12}}']   # settings of the surveyfuse methods
        [--methods forest,forest:today --params '{"forest:today": {"levels": "none", "mi": "none"}}']
                                     # a labelled variant: the method with other settings, in the same run
        [--donor-sizes 8000,38000]  # learning curve: same recipients, growing donor sets
        [--data /work/shared/data/cps_taxunits.parquet --donor-sizes 8000,32000,128000,278005]
                                     # curve on the full CPS file; microimpute/mice stop at --reference-max-donors

One split of 2,000 recipients is noisy (heavy tails), so claims rest on the
``--seeds`` summary: per task and method, the geometric mean of the energy
ratio over seeds with its range. It is followed by a breakdown of the energy
score into additive parts by how far each recipient's true block lies from
the donor mean (nearest 90%, next 9%, farthest 1%), which shows whether a
method's gain is in the bulk or in the few extreme records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from surveyfuse.constraints import ConstraintSet
from surveyfuse.evaluate.baseline import predictor_blind_rows
from surveyfuse.evaluate.reference import REFERENCE_METHODS
from surveyfuse.evaluate.scores import energy_score_rows, pinball_loss, pit_coverage, standardise
from surveyfuse.imputer import Imputer

DATA = Path(__file__).parent / "data" / "cps_bench.parquet"
WEIGHT = "s006"


@dataclass
class Task:
    name: str
    block: list[str]
    predictors: list[str]
    categorical: list[str]
    constraints: list[str] = field(default_factory=list)


TASKS = {
    "investment": Task(
        "investment",
        ["e00300", "e00400", "e00600", "e00650", "e01100"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500", "fips"],
        ["MARS", "fips"],
        ["e00650 <= e00600", "e00300 >= 0", "e00400 >= 0", "e00600 >= 0", "e00650 >= 0", "e01100 >= 0"],
    ),
    "wages": Task(
        "wages",
        ["e00200", "e00200p", "e00200s"],
        ["MARS", "age_head", "age_spouse", "XTOT", "nu18", "n24", "e00300", "e00600", "e02400", "e01500", "fips"],
        ["MARS", "fips"],
        ["e00200 == e00200p + e00200s", "MARS != 2 -> e00200s == 0", "e00200p >= 0", "e00200s >= 0"],
    ),
    "deductions": Task(
        "deductions",
        ["e17500", "e18400", "e18500", "e19200", "e19800", "e20100"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e00300", "e00600", "e02400", "e01500", "fips"],
        ["MARS", "fips"],
        ["e17500 >= 0", "e18400 >= 0", "e18500 >= 0", "e19200 >= 0", "e19800 >= 0", "e20100 >= 0"],
    ),
    # benefit receipt, as put onto tax files for microsimulation; strongly tied to age, family and income
    "benefits": Task(
        "benefits",
        ["snap_ben", "ssi_ben", "housing_ben", "mcaid_ben", "mcare_ben"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "n24", "e00200", "e02400", "e01500", "e02300", "fips"],
        ["MARS", "fips"],
        ["snap_ben >= 0", "ssi_ben >= 0", "housing_ben >= 0", "mcaid_ben >= 0", "mcare_ben >= 0"],
    ),
    # retirement income: pensions (the taxable part never above the total), Social Security, IRA distributions
    "retirement": Task(
        "retirement",
        ["e01500", "e01700", "e02400", "e01400"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e00300", "e00600", "fips"],
        ["MARS", "fips"],
        ["e01700 <= e01500", "e01500 >= 0", "e01700 >= 0", "e02400 >= 0", "e01400 >= 0"],
    ),
    # signed Schedule C income, split between the spouses
    "self_employment": Task(
        "self_employment",
        ["e00900", "e00900p", "e00900s"],
        ["MARS", "age_head", "age_spouse", "XTOT", "nu18", "e00200", "e00300", "e00600", "e02400", "fips"],
        ["MARS", "fips"],
        ["e00900 == e00900p + e00900s", "MARS != 2 -> e00900s == 0"],
    ),
}


def _shuffled(seed: int, data_path: Path = DATA) -> tuple[pd.DataFrame, np.ndarray]:
    data = pd.read_parquet(data_path)
    return data, np.random.default_rng(seed).permutation(len(data))


def split(n_donors: int, n_recipients: int, seed: int, data_path: Path = DATA) -> tuple[pd.DataFrame, pd.DataFrame]:
    data, perm = _shuffled(seed, data_path)
    donor = data.iloc[perm[:n_donors]].reset_index(drop=True)
    recipient = data.iloc[perm[n_donors : n_donors + n_recipients]].reset_index(drop=True)
    return donor, recipient


def nested_splits(sizes: list[int], n_recipients: int, seed: int, data_path: Path = DATA
                  ) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Fixed recipients and nested donor sets of growing size (for a learning curve)."""
    data, perm = _shuffled(seed, data_path)
    recipient = data.iloc[perm[:n_recipients]].reset_index(drop=True)
    pool = perm[n_recipients:]
    if max(sizes) > pool.size:
        raise SystemExit(f"--donor-sizes: at most {pool.size} donors remain after {n_recipients} recipients")
    return [data.iloc[pool[:n]].reset_index(drop=True) for n in sizes], recipient


# ---------------------------------------------------------------------------- methods
def run_surveyfuse(method: str, task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int,
                   params: dict | None = None):
    imp = Imputer(task.block, task.predictors, method=method, params=params, categorical=task.categorical,
                  weights=WEIGHT, constraints=task.constraints, random_state=seed)
    imp.fit(donor)
    out = imp.sample(recipient[task.predictors], draws=draws, seed=seed)
    D = out[task.block].to_numpy(dtype=np.float64).reshape(draws, len(recipient), len(task.block))
    rep = imp.sample_report_
    fixed = int(rep.get("redrawn", 0)) + sum(rep.get("constraints", {}).get("repaired", {}).values())
    return D, {"fixed": fixed, "params": imp.fit_report_.get("method_params", {})}


def _reference(name: str, task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int):
    """microimpute / R mice through surveyfuse.evaluate.reference (shared with ``surveyfuse evaluate``)."""
    from surveyfuse.errors import SurveyfuseError
    from surveyfuse.evaluate.reference import run_reference

    try:
        D, _, _ = run_reference(name, donor, recipient, task.block, task.predictors, task.categorical,
                                WEIGHT if name == "microimpute" else None, draws, seed)
    except SurveyfuseError as exc:
        if exc.code == "missing_dependency":
            raise ModuleNotFoundError(exc.context.get("dependency", name), name=name) from exc
        raise
    return np.stack([D[c] for c in task.block], axis=2), {}


def run_microimpute(task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int):
    return _reference("microimpute", task, donor, recipient, draws, seed)


def run_mice(task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int):
    return _reference("mice", task, donor, recipient, draws, seed)


def run_marginal(task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int):
    """Predictor-blind draws: whole donor records picked by survey weight alone.

    Not a method anyone should use; it marks where "the predictors tell
    nothing" lies, so a ratio near 1 against it means little signal to find.
    """
    rows = predictor_blind_rows(donor[WEIGHT].to_numpy(dtype=np.float64), len(donor), len(recipient), draws, seed)
    return donor[task.block].to_numpy(dtype=np.float64)[rows], {}


# ---------------------------------------------------------------------------- scoring
def score(task: Task, D: np.ndarray, donor: pd.DataFrame, recipient: pd.DataFrame, seconds: float) -> dict:
    """Scores of draws D (draws, n, k); ``donor`` fixes the standardisation."""
    truth = recipient[task.block].to_numpy(dtype=np.float64)
    w = recipient[WEIGHT].to_numpy(dtype=np.float64)
    dw = donor[WEIGHT].to_numpy(dtype=np.float64)
    ref = donor[task.block].to_numpy(dtype=np.float64)
    missing = float(np.isnan(D).mean())
    Dz, tz = standardise(np.nan_to_num(D), truth, ref, dw)
    es_rows = energy_score_rows(Dz, tz)
    es = float(np.average(es_rows, weights=w))
    pin = float(np.mean([pinball_loss(Dz[:, :, j], tz[:, j], weights=w) for j in range(len(task.block))]))
    cov = float(np.mean([pit_coverage(D[:, :, j], truth[:, j], 0.9, w, seed=j) for j in range(len(task.block))]))
    n, draws = len(recipient), D.shape[0]
    data = {c: np.tile(recipient[c].to_numpy(), draws) for c in task.predictors}
    data.update({c: D[:, :, j].ravel() for j, c in enumerate(task.block)})
    viol = float(ConstraintSet(task.constraints).violating_rows(data).mean()) if task.constraints else 0.0
    return {"energy": es, "pinball": pin, "cover90": cov, "violations": viol, "missing": missing, "seconds": seconds,
            "energy_parts": energy_parts(es_rows, tz, w)}


#: recipient groups by how far the true block lies from the donor mean (standardised): quantile cut points
OUTLIER_CUTS = (0.90, 0.99)
PART_NAMES = ("bulk (nearest 90%)", "next 9%", "farthest 1%")


def energy_parts(es_rows: np.ndarray, tz: np.ndarray, w: np.ndarray) -> list[float]:
    """The weighted mean energy split into additive parts by the truth's distance group.

    Heavy-tailed blocks put much of the score on a few extreme records that no
    method predicts; the parts show whether a method's gain is in the bulk or
    in the tail (the parts sum to the energy score).
    """
    dist = np.linalg.norm(tz, axis=1)
    group = np.digitize(dist, np.quantile(dist, OUTLIER_CUTS))
    contrib = es_rows * w / w.sum()
    return [float(v) for v in np.bincount(group, weights=contrib, minlength=len(PART_NAMES))]


RUNNERS = {
    "hotdeck": lambda *a, **kw: run_surveyfuse("hotdeck", *a, **kw),
    "qrf": lambda *a, **kw: run_surveyfuse("qrf", *a, **kw),
    "forest": lambda *a, **kw: run_surveyfuse("forest", *a, **kw),
    "microimpute": run_microimpute,
    "mice": run_mice,
    "marginal": run_marginal,
}


#: methods run through surveyfuse's Imputer, which accept ``--params``
SURVEYFUSE_METHODS = ("hotdeck", "qrf", "forest")


def method_of(label: str) -> str:
    """``forest:today`` -> ``forest``: a labelled variant runs its method with ``--params[label]``."""
    return label.split(":", 1)[0]


def run(tasks: list[str], methods: list[str], n_donors: int, n_recipients: int, draws: int, seed: int,
        data_path: Path = DATA, method_params: dict | None = None) -> list[dict]:
    donor, recipient = split(n_donors, n_recipients, seed, data_path)
    return run_split(tasks, methods, donor, recipient, draws, seed, method_params=method_params)


def run_split(tasks: list[str], methods: list[str], donor: pd.DataFrame, recipient: pd.DataFrame, draws: int,
              seed: int, reference: pd.DataFrame | None = None, method_params: dict | None = None) -> list[dict]:
    """Every method on every task of one split; ``reference`` (default: the donor) fixes the scale;
    ``method_params`` maps a surveyfuse method to its parameters."""
    method_params = method_params or {}
    rows: list[dict] = []
    for tname in tasks:
        task = TASKS[tname]
        for m in methods:
            t0 = time.perf_counter()
            try:
                kw = {"params": method_params[m]} if m in method_params else {}
                D, extra = RUNNERS[method_of(m)](task, donor, recipient, draws, seed, **kw)
            except ModuleNotFoundError as exc:
                print(f"  skip {m} on {tname}: {exc.name} not available", file=sys.stderr)
                continue
            seconds = time.perf_counter() - t0
            scored = score(task, D, donor if reference is None else reference, recipient, seconds)
            row = {"task": tname, "method": m, "seed": seed, "donors": len(donor), **scored, **extra}
            rows.append(row)
            print(f"  seed {seed} n={len(donor)} {tname:11s} {m:11s} energy={row['energy']:.4f} "
                  f"pinball={row['pinball']:.4f} cover90={row['cover90']:.3f} viol={row['violations']:.4f} "
                  f"{seconds:.1f}s", file=sys.stderr)
    return rows


def seed_summary(rows: list[dict], base_method: str = "microimpute") -> str:
    """Per task and method over seeds: geometric-mean ratio to ``base_method`` (same seed) and its range."""
    base = {(r["task"], r["seed"]): r for r in rows if r["method"] == base_method}
    if not base:
        return f"(no {base_method} rows: no ratios)"
    mice = {(r["task"], r["seed"]): r for r in rows if r["method"] == "mice"}
    marg = {(r["task"], r["seed"]): r for r in rows if r["method"] == "marginal"}
    seeds = sorted({r["seed"] for r in rows})
    head = (f"| task | method | ES/{base_method[:2]} (range over {len(seeds)} seeds) | PL/{base_method[:2]} | "
            f"ES/mice | ES/marginal | cover90 | violations | speed-up vs {base_method[:2]} |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines, overall = [head], {}
    methods = _methods_in(rows)
    for tname in _tasks_in(rows):
        for m in methods:
            mine = [r for r in rows if r["method"] == m and r["task"] == tname and (tname, r["seed"]) in base]
            if not mine:
                continue
            es = np.array([r["energy"] / base[tname, r["seed"]]["energy"] for r in mine])
            pl = np.array([r["pinball"] / base[tname, r["seed"]]["pinball"] for r in mine])
            sp = np.array([base[tname, r["seed"]]["seconds"] / max(r["seconds"], 1e-3) for r in mine])

            def vs(ref: dict) -> str:
                vals = [r["energy"] / ref[tname, r["seed"]]["energy"] for r in mine if (tname, r["seed"]) in ref]
                return f"{_g(np.array(vals)):.3f}" if vals else "-"

            overall.setdefault(m, ([], []))
            overall[m][0].extend(es)
            overall[m][1].extend(pl)
            lines.append(
                f"| {tname} | {m} | {_g(es):.3f} ({es.min():.3f}-{es.max():.3f}) | {_g(pl):.3f} | {vs(mice)} | {vs(marg)} | "
                f"{np.mean([r['cover90'] for r in mine]):.3f} | {max(r['violations'] for r in mine):.4f} | {_g(sp):.1f}x |")
    lines.append("")
    lines.append(f"geometric mean over tasks and seeds, ratio to {base_method}: " + ", ".join(
        f"{m}: ES {_g(np.array(e)):.3f} PL {_g(np.array(p)):.3f}" for m, (e, p) in overall.items()))
    return "\n".join(lines)


def parts_summary(rows: list[dict], base_method: str = "microimpute") -> str:
    """Where the energy score comes from: each part's share of ``base_method``'s score and each
    method's ratio to it part by part (means over seeds, same recipients)."""
    base = {(r["task"], r["seed"]): r for r in rows if r["method"] == base_method}
    if not base:
        return f"(no {base_method} rows: no breakdown)"
    head = ("| task | method | " + " | ".join(f"{p}: share of {base_method[:2]} / ratio" for p in PART_NAMES) + " |\n"
            "|---|---|" + "---|" * len(PART_NAMES))
    lines = [head]
    methods = _methods_in(rows)
    for tname in _tasks_in(rows):
        for m in methods:
            mine = [r for r in rows if r["method"] == m and r["task"] == tname and (tname, r["seed"]) in base]
            if not mine:
                continue
            own = np.sum([base[tname, r["seed"]]["energy_parts"] for r in mine], axis=0)
            got = np.sum([r["energy_parts"] for r in mine], axis=0)
            cells = [f"{o / own.sum():.2f} / {g / o:.3f}" if o > 0 else "- / -" for o, g in zip(own, got)]
            lines.append(f"| {tname} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _methods_in(rows: list[dict]) -> list[str]:
    """The methods present in ``rows``, in RUNNERS order (the order of every table)."""
    return sorted({r["method"] for r in rows}, key=lambda m: (list(RUNNERS).index(method_of(m)), m))


def _tasks_in(rows: list[dict]) -> list[str]:
    """The tasks present in ``rows``, in TASKS order."""
    return [t for t in TASKS if any(r["task"] == t for r in rows)]


def _g(x: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(x))))


def table(rows: list[dict]) -> str:
    """Markdown table with ratios against microimpute (and mice) in the same run."""
    ref = {(r["task"]): r for r in rows if r["method"] == "microimpute"}
    mice = {(r["task"]): r for r in rows if r["method"] == "mice"}
    head = ("| task | method | energy | ES/mi | ES/mice | pinball | PL/mi | cover90 | violations | fixed | seconds | speed-up vs mi |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        mi, mc = ref.get(r["task"]), mice.get(r["task"])
        ratio = lambda key, base: f"{r[key] / base[key]:.3f}" if base else "-"
        speed = f"{mi['seconds'] / max(r['seconds'], 1e-3):.1f}x" if mi else "-"
        lines.append(
            f"| {r['task']} | {r['method']} | {r['energy']:.4f} | {ratio('energy', mi)} | {ratio('energy', mc)} | "
            f"{r['pinball']:.4f} | {ratio('pinball', mi)} | {r['cover90']:.3f} | {r['violations']:.4f} | "
            f"{r.get('fixed', '-')} | {r['seconds']:.1f} | {speed} |"
        )
    methods = _methods_in(rows)
    if ref:
        lines.append("")
        lines.append("geometric mean over tasks, ratio to microimpute: " + ", ".join(
            f"{m}: ES {_gmean(rows, m, ref, 'energy')} PL {_gmean(rows, m, ref, 'pinball')}" for m in methods))
    if mice:
        lines.append("geometric mean over tasks, energy ratio to mice: " + ", ".join(
            f"{m}: {_gmean(rows, m, mice, 'energy')}" for m in methods))
    return "\n".join(lines)


def curve_table(rows: list[dict], sizes: list[int]) -> str:
    """Energy by donor size, with each method's ratio to its own score at the smallest size, and its
    largest-size score against microimpute's at the smallest (what more donors buy against the reference)."""
    lines = ["| task | method | " + " | ".join(f"{n} donors" for n in sizes) + " | largest / mi at smallest |",
             "|---|---|" + "---|" * (len(sizes) + 1)]
    for tname in _tasks_in(rows):
        for m in _methods_in(rows):
            got = {r["donors"]: r["energy"] for r in rows if r["task"] == tname and r["method"] == m}
            if sizes[0] not in got:
                continue
            cells = [f"{got[n]:.4f} ({got[n] / got[sizes[0]]:.3f})" if n in got else "-" for n in sizes]
            mi = [r["energy"] for r in rows if r["task"] == tname and r["method"] == "microimpute" and r["donors"] == sizes[0]]
            cells.append(f"{got[max(got)] / mi[0]:.3f}" if mi else "-")
            lines.append(f"| {tname} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _gmean(rows: list[dict], method: str, base: dict, key: str) -> str:
    vals = [r[key] / base[r["task"]][key] for r in rows if r["method"] == method and r["task"] in base]
    return f"{_g(np.array(vals)):.3f}" if vals else "-"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="held-out CPS benchmark: forest vs qrf, microimpute, mice, hotdeck")
    ap.add_argument("--donors", type=int, default=8000)
    ap.add_argument("--recipients", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default=",".join(RUNNERS))
    ap.add_argument("--seeds", help="comma-separated seeds: one split each, then a summary over seeds")
    ap.add_argument("--donor-sizes", help="comma-separated donor sizes on the same recipients (learning curve)")
    ap.add_argument("--data", type=Path, default=DATA,
                    help="CPS tax-unit Parquet file (default: the bundled 40,000-row sample; pass the full "
                         "cps_taxunits.parquet for learning curves beyond 38,000 donors)")
    ap.add_argument("--reference-max-donors", type=int, default=40000,
                    help="learning curve: skip microimpute and mice above this many donors (hours at 278k)")
    ap.add_argument("--params", type=json.loads, default={},
                    help='JSON parameters per surveyfuse method, e.g. \'{"forest": {"min_samples_leaf": 12}}\'')
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    tasks, methods = args.tasks.split(","), args.methods.split(",")
    unknown = [m for m in methods if method_of(m) not in RUNNERS] + [t for t in tasks if t not in TASKS]
    if not isinstance(args.params, dict) or not all(isinstance(v, dict) for v in args.params.values()):
        raise SystemExit('--params: expected a JSON object of objects, e.g. {"forest": {"min_samples_leaf": 12}}')
    unknown += [f"{m} (--params)" for m in args.params if method_of(m) not in SURVEYFUSE_METHODS]
    if unknown:
        raise SystemExit(f"unknown method or task: {', '.join(unknown)} (methods: {', '.join(RUNNERS)}; tasks: {', '.join(TASKS)})")
    if args.donor_sizes:
        sizes = sorted(int(v) for v in args.donor_sizes.split(","))
        donors, recipient = nested_splits(sizes, args.recipients, args.seed, args.data)
        rows = []
        for donor in donors:
            here = [m for m in methods if m not in REFERENCE_METHODS or len(donor) <= args.reference_max_donors]
            rows += run_split(tasks, here, donor, recipient, args.draws, args.seed, reference=donors[0],
                              method_params=args.params)
        print(f"\nLearning curve: the same {args.recipients} recipients, donors {args.donor_sizes}, seed {args.seed}; "
              f"block standardised by the smallest donor set\n")
        print(curve_table(rows, sizes))
    elif args.seeds:
        seeds = [int(v) for v in args.seeds.split(",")]
        rows = []
        for seed in seeds:
            rows += run(tasks, methods, args.donors, args.recipients, args.draws, seed, args.data, args.params)
        print(f"\nCPS held-out benchmark: {args.donors} donors, {args.recipients} recipients, {args.draws} draws, "
              f"seeds {args.seeds}\n")
        for seed in seeds:
            print(f"### seed {seed}\n")
            print(table([r for r in rows if r["seed"] == seed]) + "\n")
        print(f"### summary over seeds {args.seeds}\n")
        print(seed_summary(rows))
        print("\n### where the energy score comes from: recipients grouped by the distance of their true block "
              "from the donor mean\n")
        print(parts_summary(rows))
    else:
        rows = run(tasks, methods, args.donors, args.recipients, args.draws, args.seed, args.data, args.params)
        print(f"\nCPS held-out benchmark: {args.donors} donors, {args.recipients} recipients, {args.draws} draws, seed {args.seed}\n")
        print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
