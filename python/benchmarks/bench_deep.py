"""Learning curves of the generative backends on held-out CPS blocks, with forest and microimpute.

Tasks: the six blocks of :mod:`bench_forest` (investment, wages, deductions,
benefits, retirement, self_employment) and ``spending``, a spending-like block
built from the same CPS file: five itemizable outlays (medical, state and
local taxes, real-estate taxes, interest paid, cash gifts) and their total
``outlays``, declared as ``outlays == e17500 + ... + e19800``; a money block
with 17 % all-zero records, zero-inflated parts and long right tails, like a
consumer-expenditure block of parts and their total. (Non-cash gifts
``e20100`` are left out: in this file they are 0.219 times ``e19800`` on
every row, an imputation artefact no spending survey has.)

For one seed the bundled 40,000-row CPS sample gives fixed recipients and
nested donor sets of every size in ``--donor-sizes`` (the same recipients at
every size, so the curve shows what more donors buy). Every method is fitted
on each donor set and draws ``--draws`` imputations per recipient; each row
reports the energy score of the block standardised by the first
``REFERENCE_DONORS`` donors of the same order (one fixed scale whatever sizes
a run asks for, so rows of separate runs compare; its ratio to microimpute at
the same donor size is what the tables show), 90 % randomised-PIT
coverage, the share of records breaking a declared identity, fit + draw
seconds, and for the generative backends the held-out fit check.

microimpute 3.1.4 cannot live in the project's environment, so it runs in its
own interpreter (``--microimpute-python``, default /work/mi-venv/bin/python)
through :func:`run_microimpute`; the row is skipped when that interpreter is
missing. The grid is long, so every finished (task, donors, method) row is
appended to ``--results`` (JSON lines) and a rerun skips what is there.

    nice -n 10 .venv/bin/python python/benchmarks/bench_deep.py \
        [--tasks investment,wages,...] [--methods tvae,diffusion,ctgan,ctabgan,forest,microimpute,marginal] \
                                       (also: hotdeck, qrf, mice, ctgan-pkg-CTGAN, ctgan-pkg-TVAE)
        [--donor-sizes 300,1000,3000,10000] [--recipients 2000] [--draws 20] [--seed 0] \
        [--results .bench/deep.jsonl] [--params '{"tvae": {"epochs": 50}}'] [--table-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import bench_forest  # noqa: E402
from bench_forest import DATA, TASKS as FOREST_TASKS, WEIGHT, Task, run_marginal, run_mice, score  # noqa: E402

from surveyfuse.imputer import Imputer  # noqa: E402

GENERATIVE = ("tvae", "diffusion", "ctgan", "ctabgan")
SURVEYFUSE = GENERATIVE + ("forest", "qrf", "hotdeck")
METHODS = GENERATIVE + ("forest", "microimpute", "marginal")
#: optional rows: R mice (pmm), and the `ctgan` package's own unconditional models (BSL-licensed, never a dependency)
OPTIONAL = ("mice", "ctgan-pkg-CTGAN", "ctgan-pkg-TVAE")
MICROIMPUTE_PYTHON = "/work/mi-venv/bin/python"
#: the nested donor set whose mean and sd standardise every score
REFERENCE_DONORS = 10000

OUTLAY_PARTS = ["e17500", "e18400", "e18500", "e19200", "e19800"]
TASKS: dict[str, Task] = {
    **FOREST_TASKS,
    "spending": Task(
        "spending",
        ["outlays", *OUTLAY_PARTS],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e00300", "e00600", "e02400", "e01500", "fips"],
        ["MARS", "fips"],
        ["outlays == " + " + ".join(OUTLAY_PARTS)] + [f"{c} >= 0" for c in ["outlays", *OUTLAY_PARTS]],
    ),
}


def with_outlays(frame: pd.DataFrame) -> pd.DataFrame:
    """The CPS rows with the ``spending`` block's total (exact sum of the six outlays) added."""
    return frame.assign(outlays=frame[OUTLAY_PARTS].sum(axis=1))


def learning_curve_splits(sizes: list[int], n_recipients: int, seed: int, data: Path = DATA
                          ) -> tuple[list[pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Fixed recipients, nested donor sets (bench_forest's split) and the reference set, with the spending total."""
    donors, recipient = bench_forest.nested_splits(list(sizes) + [REFERENCE_DONORS], n_recipients, seed, data)
    donors = [with_outlays(d) for d in donors]
    return donors[:-1], with_outlays(recipient), donors[-1]


# ---------------------------------------------------------------------------- methods
def run_surveyfuse(method: str, task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int,
                   params: dict | None = None) -> tuple[np.ndarray, dict]:
    """Fit and draw through the Imputer as a user would; fit seconds and the fit check come back too."""
    t0 = time.perf_counter()
    imp = Imputer(task.block, task.predictors, method=method, params=params, categorical=task.categorical,
                  weights=WEIGHT, constraints=task.constraints, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imp.fit(donor)
    fit_s = time.perf_counter() - t0
    out = imp.sample(recipient[task.predictors], draws=draws, seed=seed)
    D = out[task.block].to_numpy(dtype=np.float64).reshape(draws, len(recipient), len(task.block))
    rep = imp.sample_report_
    described = imp.fit_report_.get("method_params", {})
    extra = {"fit_seconds": round(fit_s, 2),
             "fixed": int(rep.get("redrawn", 0)) + sum(rep.get("constraints", {}).get("repaired", {}).values()),
             "epochs_run": described.get("epochs_run"), "fit_check": described.get("fit_check"),
             "warnings": [str(w.message) for w in caught if issubclass(w.category, UserWarning)]}
    return D, extra


def run_microimpute(task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int,
                    python: str = MICROIMPUTE_PYTHON) -> tuple[np.ndarray, dict]:
    """microimpute 3.1.4's QRF in its own interpreter (it cannot share the project's locked versions),
    through the same path as every benchmark (:mod:`surveyfuse.evaluate.reference`)."""
    from surveyfuse.evaluate.reference import run_reference

    if not Path(python).exists():
        raise ModuleNotFoundError(f"microimpute interpreter {python}", name="microimpute")
    saved = os.environ.get("SURVEYFUSE_MICROIMPUTE_PYTHON")
    os.environ["SURVEYFUSE_MICROIMPUTE_PYTHON"] = python
    try:
        got, fit_s, sample_s = run_reference("microimpute", donor, recipient, task.block, task.predictors, [], WEIGHT,
                                             draws, seed)
    finally:
        if saved is None:
            os.environ.pop("SURVEYFUSE_MICROIMPUTE_PYTHON")
        else:
            os.environ["SURVEYFUSE_MICROIMPUTE_PYTHON"] = saved
    return np.stack([got[c] for c in task.block], axis=2), {"fit_seconds": round(fit_s + sample_s, 2)}


def run_ctgan_package(kind: str, task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int,
                      epochs: int = 100) -> tuple[np.ndarray, dict]:
    """The `ctgan` package's CTGAN / TVAE: it models the block alone and cannot condition on
    continuous predictors, so every recipient gets unconditional draws (what conditioning buys)."""
    try:
        import ctgan
    except ImportError as exc:
        raise ModuleNotFoundError("ctgan", name="ctgan") from exc
    import torch

    model = (ctgan.CTGAN if kind == "CTGAN" else ctgan.TVAE)(epochs=epochs)
    model.set_random_state(seed)
    torch.set_num_threads(1)
    model.fit(donor[task.block], discrete_columns=[])
    sample = model.sample(draws * len(recipient))[task.block].to_numpy(dtype=np.float64)
    return sample.reshape(draws, len(recipient), len(task.block)), {"epochs_run": epochs}


def run_method(method: str, task: Task, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int, seed: int,
               params: dict | None = None, microimpute_python: str = MICROIMPUTE_PYTHON) -> tuple[np.ndarray, dict]:
    if method == "microimpute":
        return run_microimpute(task, donor, recipient, draws, seed, microimpute_python)
    if method == "marginal":
        return run_marginal(task, donor, recipient, draws, seed)
    if method == "mice":
        return run_mice(task, donor, recipient, draws, seed)
    if method.startswith("ctgan-pkg-"):
        return run_ctgan_package(method.rsplit("-", 1)[1], task, donor, recipient, draws, seed)
    return run_surveyfuse(method, task, donor, recipient, draws, seed, params)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (microimpute's interpreter): on shared
    cores, wall time says more about the neighbours than about the method."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ---------------------------------------------------------------------------- resumable results
def row_key(row: dict) -> tuple:
    return (row["task"], int(row["donors"]), row["method"], int(row["seed"]), row.get("params_key", ""))


def read_results(path: Path | None) -> list[dict]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_result(path: Path | None, row: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")


def run_grid(tasks: list[str], methods: list[str], sizes: list[int], n_recipients: int, draws: int, seed: int,
             results: Path | None = None, params: dict | None = None, data: Path = DATA,
             microimpute_python: str = MICROIMPUTE_PYTHON) -> list[dict]:
    """Every (task, donor size, method) not yet in ``results``; rows are appended as they finish."""
    params = params or {}
    rows = read_results(results)
    done = {row_key(r) for r in rows}
    donors, recipient, reference = learning_curve_splits(sizes, n_recipients, seed, data)
    for tname in tasks:
        task = TASKS[tname]
        for donor in donors:
            for m in methods:
                pkey = json.dumps(params[m], sort_keys=True) if m in params else ""
                key = (tname, len(donor), m, seed, pkey)
                if key in done:
                    continue
                t0, cpu0 = time.perf_counter(), _cpu_seconds()
                try:
                    D, extra = run_method(m, task, donor, recipient, draws, seed, params.get(m), microimpute_python)
                except ModuleNotFoundError as exc:
                    print(f"  skip {m} on {tname}: {exc.name} not available", file=sys.stderr)
                    continue
                seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
                scored = score(task, D, reference, recipient, seconds)
                row = {"task": tname, "donors": len(donor), "method": m, "seed": seed, "params_key": pkey,
                       "recipients": len(recipient), "draws": draws, **scored, "cpu_seconds": round(cpu, 1), **extra}
                rows.append(row)
                done.add(key)
                append_result(results, row)
                check = row.get("fit_check") or {}
                print(f"  {tname:15s} n={len(donor):6d} {m:11s} energy={row['energy']:.4f} cover90={row['cover90']:.3f} "
                      f"viol={row['violations']:.4f} {seconds:6.1f}s"
                      + (f" check={'ok' if check.get('ok') else 'FAILED'}" if check else ""), file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------- tables
def _select(rows: list[dict], seed: int, params: dict) -> dict[tuple, dict]:
    """(task, donors, method) -> row, for this seed and these parameters (the latest row wins)."""
    out = {}
    for r in rows:
        pkey = json.dumps(params[r["method"]], sort_keys=True) if r["method"] in params else ""
        if r["seed"] == seed and r.get("params_key", "") == pkey:
            out[(r["task"], int(r["donors"]), r["method"])] = r
    return out


def curve_table(rows: list[dict], seed: int = 0, params: dict | None = None) -> str:
    """One line per task and method; per donor size: coverage / energy ratio to microimpute / seconds."""
    got = _select(rows, seed, params or {})
    tasks = [t for t in TASKS if any(k[0] == t for k in got)]
    sizes = sorted({k[1] for k in got})
    methods = [m for m in METHODS + SURVEYFUSE + OPTIONAL if any(k[2] == m for k in got)]
    methods = list(dict.fromkeys(methods))
    lines = ["| block | method | " + " | ".join(f"{n:,} donors: cover90 / ES÷mi / s" for n in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for t in tasks:
        for m in methods:
            cells = []
            for n in sizes:
                r, mi = got.get((t, n, m)), got.get((t, n, "microimpute"))
                if r is None:
                    cells.append("-")
                    continue
                ratio = f"{r['energy'] / mi['energy']:.3f}" if mi else f"ES {r['energy']:.3f}"
                flag = "" if (r.get("fit_check") or {}).get("ok", True) else " ⚠"
                bad = f", {r['violations']:.1%} broken" if r["violations"] > 0 else ""
                cells.append(f"{r['cover90']:.2f} / {ratio} / {r['seconds']:.0f}{bad}{flag}")
            if any(c != "-" for c in cells):
                lines.append(f"| {t} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals_table(rows: list[dict], seed: int = 0, params: dict | None = None) -> str:
    """Per generative method: the issue's goals over every measured (block, donor size)."""
    got = _select(rows, seed, params or {})
    lines = ["| method | cells | cover90 in 0.80-0.97 | ES <= 1.0x mi | worst cover90 | worst ES÷mi | "
             "geo-mean ES÷mi | ES < forest | broken records | fit+draws at 10k, max wall / CPU s | check failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in GENERATIVE + ("forest",):
        mine = [(k, r) for k, r in got.items() if k[2] == m]
        if not mine:
            continue
        ratios = [r["energy"] / got[(k[0], k[1], "microimpute")]["energy"] for k, r in mine if (k[0], k[1], "microimpute") in got]
        vs_forest = [r["energy"] < got[(k[0], k[1], "forest")]["energy"] for k, r in mine if (k[0], k[1], "forest") in got]
        cover = [r["cover90"] for _, r in mine]
        big = [(r["seconds"], r.get("cpu_seconds", float("nan"))) for k, r in mine if k[1] >= 10000] or [(float("nan"),) * 2]
        failed = sum(1 for _, r in mine if not (r.get("fit_check") or {}).get("ok", True))
        lines.append(
            f"| {m} | {len(mine)} | {sum(0.80 <= c <= 0.97 for c in cover)}/{len(cover)} | "
            f"{sum(x <= 1.0 for x in ratios)}/{len(ratios)} | {min(cover):.3f} | "
            f"{max(ratios):.3f} | {np.exp(np.mean(np.log(ratios))):.3f} | {sum(vs_forest)}/{len(vs_forest)} | "
            f"{max(r['violations'] for _, r in mine):.4f} | {max(b[0] for b in big):.0f} / {max(b[1] for b in big):.0f} | "
            f"{failed} |" if ratios else
            f"| {m} | {len(mine)} | - | - | {min(cover):.3f} | - | - | - | - | - | {failed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--donor-sizes", default="300,1000,3000,10000")
    ap.add_argument("--recipients", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--results", type=Path, help="JSON-lines file: finished rows are appended, and skipped on a rerun")
    ap.add_argument("--params", type=json.loads, default={},
                    help='JSON parameters per surveyfuse method, e.g. \'{"tvae": {"epochs": 50}}\'')
    ap.add_argument("--microimpute-python", default=MICROIMPUTE_PYTHON)
    ap.add_argument("--table-only", action="store_true", help="print the tables of --results without running")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    tasks, methods = args.tasks.split(","), args.methods.split(",")
    known = set(SURVEYFUSE) | {"microimpute", "marginal"} | set(OPTIONAL)
    unknown = [m for m in methods if m not in known] + [t for t in tasks if t not in TASKS]
    if not isinstance(args.params, dict) or not all(isinstance(v, dict) for v in args.params.values()):
        raise SystemExit('--params: expected a JSON object of objects, e.g. {"tvae": {"epochs": 50}}')
    unknown += [f"{m} (--params)" for m in args.params if m not in SURVEYFUSE]
    if unknown:
        raise SystemExit(f"unknown method or task: {', '.join(unknown)} (methods: {', '.join(sorted(known))}; "
                         f"tasks: {', '.join(TASKS)})")
    sizes = sorted(int(v) for v in args.donor_sizes.split(","))
    if args.table_only:
        rows = read_results(args.results)
    else:
        rows = run_grid(tasks, methods, sizes, args.recipients, args.draws, args.seed, args.results, args.params,
                        args.data, args.microimpute_python)
    rows = [r for r in rows if r["task"] in tasks and r["method"] in methods and int(r["donors"]) in sizes]
    print(f"\nLearning curve: {args.recipients} fixed recipients, nested donor sets {args.donor_sizes}, "
          f"{args.draws} draws, seed {args.seed}; ES÷mi = energy score (block standardised by the first "
          f"{REFERENCE_DONORS} donors) over microimpute's at the same donor size; s = fit + draws seconds; ⚠ = the fit check failed\n")
    print(curve_table(rows, args.seed, args.params))
    print("\nGoals over every measured block and donor size\n")
    print(goals_table(rows, args.seed, args.params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
