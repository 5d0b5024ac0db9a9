"""Inference benchmark: do the analyses users run on a fused file come out right?

Repeated sampling from a population. Each replication draws disjoint simple
random samples of donors and recipients from the CPS tax-unit file, hides the
recipients' block, imputes it with each method (``--draws`` imputations) and
pools every estimand over the imputations by Rubin's rules
(:mod:`surveyfuse.evaluate.pooling`). The population values are the same
estimators computed on the whole file (weights ``s006``), so the 90% intervals
should cover them in 90% of replications. ``truth`` is the complete-data
analysis: the recipients' real block, one data set, the same variance formulas.

Estimands, per block (see ``BLOCKS``), for every block variable ``v``:

* ``mean``, ``total``: weighted mean and total;
* ``share_pos``: weighted share with ``v > 0``;
* ``median_pos``, ``p90_pos``: median and 90th percentile among units with
  ``v > 0`` (the quantiles of a variable that is zero for most units would
  sit on the point mass at 0), Woodruff intervals;
* ``top10_share``: the share of the total of ``v`` held by the 10% of units
  with the largest ``v`` (linearised variance);
* ``group_mean``: mean of ``v`` among a recipient category (joint filers);
* ``top1_mean``: mean of ``v`` among the top 1% of recipients by a recipient
  income variable (the sample's own 99th percentile);

and two regressions: the slope of an imputed variable on a recipient variable
(``slope_imp_on_rec``) and of a recipient variable on an imputed one
(``slope_rec_on_imp``), each with a control, weighted least squares with
sandwich variances.

Columns: coverage of the 90% interval (with its binomial standard error),
mean bias in standard errors (``(estimate - population) / se``), the interval
width relative to the complete-data interval of the same replication, and
fit + sample seconds. Results are appended to a JSON-lines file per
(replication, block, method), so an interrupted run resumes where it stopped
(a rerun skips what is done; ``--fresh`` starts over).

    python python/benchmarks/bench_inference.py --data /work/shared/data/cps_taxunits.parquet \\
        [--reps 100] [--methods truth,forest,qrf,hotdeck,mice,microimpute] [--blocks deductions,...]
        [--donors 5000] [--recipients 5000] [--draws 10] [--results out/bench_inference/results.jsonl]
        [--params '{"forest:small-leaf": {"min_samples_leaf": 3}}']   # a labelled variant of a method
        [--fused-resamples 10]     # forest and qrf rows also pooled by the fused-file rule (needs --draws 20, 30, ...)
        [--report-only]                                                # print the table from the results file

Without ``--data`` the population is the bundled 40,000-row sample
(``data/cps_bench.parquet``), which is enough for a quick run but not for
claims. microimpute runs in-process when importable, else through the
interpreter named by ``SURVEYFUSE_MICROIMPUTE_PYTHON`` (see
:mod:`surveyfuse.evaluate.reference`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from surveyfuse.evaluate.pooling import fused, rubin, weighted_mean, weighted_quantile, weighted_total, wls

DATA = Path(__file__).parent / "data" / "cps_bench.parquet"
RESULTS = Path(__file__).resolve().parents[2] / "out" / "bench_inference" / "results.jsonl"
WEIGHT = "s006"
LEVEL = 0.90
#: the coverage band the issue sets; estimands whose complete-data coverage leaves it are not judged
BAND = (0.85, 0.95)
Z_WOODRUFF = stats.norm.ppf(0.5 + LEVEL / 2)


@dataclass(frozen=True)
class Block:
    name: str
    block: list[str]
    predictors: list[str]
    constraints: list[str]
    group: tuple[str, int]  # recipient category column and level for group means
    top_by: str | None  # recipient variable whose top 1% defines top1_mean (None: no such estimand)
    slope_imp: tuple[str, str, str]  # imputed y, recipient x, recipient control ("log1p:v" = log(1 + v))
    slope_rec: tuple[str, str, str]  # recipient y, imputed x, recipient control
    categorical: tuple[str, ...] = ("MARS",)


def _nonneg(cols: list[str]) -> list[str]:
    return [f"{c} >= 0" for c in cols]


BLOCKS = {
    "deductions": Block(
        "deductions", ["e18400", "e19200", "e19800"],
        ["age_head", "MARS", "XTOT", "nu18", "e00200", "e00300", "e00600", "e02400"],
        _nonneg(["e18400", "e19200", "e19800"]), ("MARS", 2), "e00200",
        ("e18400", "e00200", "age_head"), ("e00200", "log1p:e18400", "age_head"),
    ),
    "investment": Block(
        "investment", ["e00300", "e00400", "e00600", "e00650", "e01100"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500"],
        ["e00650 <= e00600"] + _nonneg(["e00300", "e00400", "e00600", "e00650", "e01100"]), ("MARS", 2), None,
        ("log1p:e00600", "e00200", "age_head"), ("e02400", "log1p:e00300", "age_head"),
    ),
    "wages": Block(
        "wages", ["e00200", "e00200p", "e00200s"],
        ["MARS", "age_head", "age_spouse", "XTOT", "nu18", "n24", "e00300", "e00600", "e02400", "e01500"],
        ["e00200 == e00200p + e00200s", "MARS != 2 -> e00200s == 0", "e00200p >= 0", "e00200s >= 0"], ("MARS", 2),
        None, ("e00200", "e02400", "age_head"), ("e02400", "e00200", "age_head"),
    ),
    "benefits": Block(
        "benefits", ["snap_ben", "ssi_ben", "housing_ben", "mcaid_ben", "mcare_ben"],
        ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "n24", "e00200", "e02400", "e01500", "e02300"],
        _nonneg(["snap_ben", "ssi_ben", "housing_ben", "mcaid_ben", "mcare_ben"]), ("MARS", 2), None,
        ("snap_ben", "XTOT", "e00200"), ("e00200", "log1p:snap_ben", "XTOT"),
    ),
}
VARIABLE_ESTIMANDS = ("mean", "total", "share_pos", "median_pos", "p90_pos", "top10_share", "group_mean", "top1_mean")
SURVEYFUSE = ("forest", "qrf", "hotdeck", "tvae", "ctgan", "ctabgan", "diffusion")
REFERENCES = ("mice", "microimpute")
#: methods whose imputations come in tree groups (``mi_groups``), so the fused-file rule applies to them
FUSED_RULE_METHODS = ("forest", "qrf")
METHODS = ("truth",) + SURVEYFUSE + REFERENCES


# ---------------------------------------------------------------------------- complete-data estimators
def _quantile_var(y: np.ndarray, w: np.ndarray, p: float) -> tuple[float, float]:
    """Weighted quantile and its Woodruff variance, sorting once."""
    order = np.argsort(y, kind="stable")
    ys, cdf = y[order], np.cumsum(w[order]) / w.sum()

    def q(level: float) -> float:
        return float(ys[min(int(np.searchsorted(cdf, min(max(level, 0.0), 1.0) - 1e-12)), len(ys) - 1)])

    est = q(p)
    _, var_f = weighted_mean((y <= est).astype(np.float64), w)
    s = np.sqrt(var_f)
    return est, ((q(p + Z_WOODRUFF * s) - q(p - Z_WOODRUFF * s)) / (2 * Z_WOODRUFF)) ** 2


def _top_share_var(y: np.ndarray, w: np.ndarray, top: float = 0.10) -> tuple[float, float]:
    """Share of the total held by the top ``top`` of units, and its linearised variance."""
    q = weighted_quantile(y, w, 1 - top)
    above = y > q
    mu = float((w * y).sum() / w.sum())
    num = float((w * y * above).sum() / w.sum())
    if mu <= 0:
        return 0.0, 0.0
    share = num / mu
    influence = ((y - q) * above + top * q - num - share * (y - mu)) / mu
    return share, weighted_mean(influence, w)[1]


def _domain_mean(y: np.ndarray, w: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    if keep.sum() < 2:
        return float("nan"), float("nan")
    return weighted_mean(y[keep], w[keep])


def estimates(spec: Block, frame: pd.DataFrame, w: np.ndarray) -> dict[str, tuple[float, float]]:
    """Every estimand of ``spec`` on one complete data set: name -> (estimate, variance)."""
    out: dict[str, tuple[float, float]] = {}
    gcol, glevel = spec.group
    in_group = frame[gcol].to_numpy() == glevel
    if spec.top_by is not None:
        top_by = frame[spec.top_by].to_numpy(dtype=np.float64)
        in_top = top_by > weighted_quantile(top_by, w, 0.99)
    n = len(frame)
    for v in spec.block:
        y = frame[v].to_numpy(dtype=np.float64)
        mean, var = weighted_mean(y, w)
        out[f"{v}:mean"] = (mean, var)
        out[f"{v}:total"] = weighted_total(y, w)
        out[f"{v}:share_pos"] = weighted_mean((y > 0).astype(np.float64), w)
        pos = y > 0
        for name, p in (("median_pos", 0.5), ("p90_pos", 0.9)):
            out[f"{v}:{name}"] = _quantile_var(y[pos], w[pos], p) if pos.sum() >= 10 else (np.nan, np.nan)
        out[f"{v}:top10_share"] = _top_share_var(y, w)
        out[f"{v}:group_mean"] = _domain_mean(y, w, in_group)
        if spec.top_by is not None:
            out[f"{v}:top1_mean"] = _domain_mean(y, w, in_top)
    for key, (ycol, xcol, ccol) in (("slope_imp_on_rec", spec.slope_imp), ("slope_rec_on_imp", spec.slope_rec)):
        X = np.column_stack([np.ones(n), _column(frame, xcol), _column(frame, ccol)])
        beta, var = wls(_column(frame, ycol), X, w)
        out[f"{ycol}~{xcol}:{key}"] = (float(beta[1]), float(var[1]))
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column, or ``log1p:v`` for log(1 + v) of a non-negative money column (how economists regress them)."""
    if name.startswith("log1p:"):
        return np.log1p(np.maximum(frame[name[6:]].to_numpy(dtype=np.float64), 0.0))
    return frame[name].to_numpy(dtype=np.float64)


def population_values(spec: Block, population: pd.DataFrame) -> dict[str, float]:
    """The estimands on the whole file (weights ``s006``): what the intervals should cover."""
    w = population[WEIGHT].to_numpy(dtype=np.float64)
    return {k: v[0] for k, v in estimates(spec, population, w).items()}


def sample_weights(sample: pd.DataFrame, population_rows: int) -> np.ndarray:
    """``s006`` times N/n: a simple random sample of n of the file's N rows then estimates the file's totals."""
    return sample[WEIGHT].to_numpy(dtype=np.float64) * population_rows / len(sample)


# ---------------------------------------------------------------------------- methods
def impute(method: str, params: dict | None, spec: Block, donor: pd.DataFrame, recipient: pd.DataFrame, draws: int,
           seed: int) -> tuple[np.ndarray, float]:
    """Draws (draws, n, k) of the block for the recipients, and the seconds it took."""
    t0 = time.perf_counter()
    if method in SURVEYFUSE:
        from surveyfuse.imputer import Imputer

        imp = Imputer(spec.block, spec.predictors, method=method, params=params, categorical=list(spec.categorical),
                      weights=WEIGHT, constraints=spec.constraints, random_state=seed)
        imp.fit(donor)
        out = imp.sample(recipient[spec.predictors], draws=draws, seed=seed)
        D = out[spec.block].to_numpy(dtype=np.float64).reshape(draws, len(recipient), len(spec.block))
    elif method in REFERENCES:
        from surveyfuse.evaluate.reference import run_reference

        got, fit_s, sample_s = run_reference(method, donor, recipient, spec.block, spec.predictors,
                                             list(spec.categorical), WEIGHT if method == "microimpute" else None,
                                             draws, seed)
        # the tool's own fit + draw time (a subprocess's start-up and file transfer are not the method's cost)
        return np.stack([got[c] for c in spec.block], axis=2), fit_s + sample_s
    else:
        raise SystemExit(f"unknown method '{method}'")
    return D, time.perf_counter() - t0


def pooled(spec: Block, recipient: pd.DataFrame, w: np.ndarray, D: np.ndarray | None,
           rules: tuple[int | None, ...] = (None,)) -> list[dict[str, list[float]]]:
    """Estimate, se, ci_low, ci_high per estimand, one dict per rule: ``None`` Rubin's rules over D's
    imputations, an int the fused-file rule of :func:`surveyfuse.evaluate.pooling.fused` with that many
    resamples (each imputation is analysed once, whatever the rules); without D, the complete data."""
    if D is None:  # complete data: the recipients' own block, one data set
        out = {}
        for k, (e, u) in estimates(spec, recipient, w).items():
            half = stats.t.ppf(0.5 + LEVEL / 2, len(recipient) - 1) * np.sqrt(u)
            out[k] = [e, float(np.sqrt(u)), e - half, e + half]
        return [out for _ in rules]
    frame = recipient.drop(columns=spec.block).copy()
    per = []
    for d in range(D.shape[0]):
        for j, v in enumerate(spec.block):
            frame[v] = D[d, :, j]
        per.append(estimates(spec, frame, w))
    outs: list[dict[str, list[float]]] = [{} for _ in rules]
    for k in per[0]:
        Q = np.array([p[k][0] for p in per])
        U = np.array([p[k][1] for p in per])
        finite = np.all(np.isfinite(Q)) and np.all(np.isfinite(U))
        for out, resamples in zip(outs, rules):
            if not finite:
                out[k] = [float("nan")] * 4
                continue
            r = (rubin(Q, U, nu_com=len(recipient) - 1) if resamples is None
                 else fused(Q, U, resamples, nu_com=len(recipient) - 1)).iloc[0]
            # the pooled intervals are 95%; rebuild the 90% one from its df
            half = stats.t.ppf(0.5 + LEVEL / 2, min(r.df, 1e12)) * r.se
            out[k] = [float(r.estimate), float(r.se), float(r.estimate - half), float(r.estimate + half)]
    return outs


# ---------------------------------------------------------------------------- replications, resumable
def method_base(label: str) -> str:
    """``forest:variant`` -> ``forest`` (a labelled variant runs its base method with ``--params[label]``);
    ``forest+fused`` (the same draws pooled by the fused-file rule) -> ``forest``."""
    return label.split("+", 1)[0].split(":", 1)[0]


def done_keys(path: Path) -> set[tuple[int, str, str]]:
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            keys.add((r["rep"], r["block"], r["method"]))
    return keys


def load_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run(population: pd.DataFrame, blocks: list[str], methods: list[str], reps: list[int], n_donors: int,
        n_recipients: int, draws: int, results: Path, params: dict[str, dict], max_seconds: float | None = None,
        verbose: bool = True, fused_resamples: int | None = None) -> None:
    """Append one JSON line per (replication, block, method) not yet in ``results``; with ``fused_resamples``,
    a ``forest`` or ``qrf`` row also gets a ``<label>+fused`` row: the same draws under the fused-file rule."""
    results.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(results)
    start = time.perf_counter()
    N = len(population)
    for rep in reps:
        todo = [(b, m) for b in blocks for m in methods if (rep, b, m) not in done]
        if not todo:
            continue
        perm = np.random.default_rng(rep).permutation(N)
        donor = population.iloc[perm[:n_donors]].reset_index(drop=True)
        recipient = population.iloc[perm[n_donors:n_donors + n_recipients]].reset_index(drop=True)
        w = sample_weights(recipient, N)
        for bname, label in todo:
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                print(f"stopping: --max-seconds {max_seconds:.0f} reached (rerun to resume)", file=sys.stderr)
                return
            spec = BLOCKS[bname]
            base = method_base(label)
            try:
                if base == "truth":
                    D, seconds = None, 0.0
                else:
                    D, seconds = impute(base, params.get(label), spec, donor, recipient, draws, rep)
            except Exception as exc:  # noqa: BLE001 - a failed method is recorded, the run goes on
                from surveyfuse.errors import SurveyfuseError

                if isinstance(exc, SurveyfuseError) and exc.code == "missing_dependency":
                    print(f"  skip {label}: {exc}", file=sys.stderr)
                    methods = [m for m in methods if m != label]
                    continue
                raise
            labels, rules = [label], [None]
            if fused_resamples and base in FUSED_RULE_METHODS and D is not None:
                labels, rules = [label, f"{label}+fused"], [None, fused_resamples]
            rows = list(zip(labels, pooled(spec, recipient, w, D, tuple(rules))))
            with results.open("a") as fh:
                for name, est in rows:
                    fh.write(json.dumps({"rep": rep, "block": bname, "method": name, "seconds": round(seconds, 3),
                                         "draws": draws, "donors": n_donors, "recipients": n_recipients,
                                         "estimates": est}) + "\n")
            if verbose:
                print(f"  rep {rep} {bname:10s} {label:14s} {seconds:7.1f}s", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- summaries
def summarise(rows: list[dict], truths: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per (block, method, estimand): coverage, its se, mean bias in se, width ratio, seconds, reps."""
    records = []
    complete = {(r["rep"], r["block"]): r["estimates"] for r in rows if r["method"] == "truth"}
    for r in rows:
        for k, (e, se, lo, hi) in r["estimates"].items():
            true = truths[r["block"]].get(k)
            ref = complete.get((r["rep"], r["block"]), {}).get(k)
            records.append({
                "block": r["block"], "method": r["method"], "estimand": k, "rep": r["rep"], "seconds": r["seconds"],
                "covered": float(lo <= true <= hi) if np.isfinite(lo) else np.nan,
                "bias_se": (e - true) / se if se > 0 else np.nan,
                "width": hi - lo, "width_ref": (ref[3] - ref[2]) if ref else np.nan,
                "degenerate": not (se > 0),
            })
    long = pd.DataFrame(records)
    g = long.groupby(["block", "method", "estimand"], sort=False)
    out = g.agg(reps=("covered", "count"), coverage=("covered", "mean"), bias_se=("bias_se", "mean"),
                width=("width", "mean"), width_ref=("width_ref", "mean"), seconds=("seconds", "mean"),
                degenerate=("degenerate", "any")).reset_index()
    out["coverage_se"] = np.sqrt(out.coverage * (1 - out.coverage) / out.reps.clip(lower=1))
    out["width_ratio"] = out.width / out.width_ref
    # an estimand is judged only where the complete-data analysis itself is valid: its intervals cover
    # within the band and never collapse to a point (a quantile on a point mass, a share of all zeros)
    truth = out[out.method == "truth"].set_index(["block", "estimand"])
    ok = (truth.coverage >= BAND[0]) & (truth.coverage <= BAND[1]) & ~truth.degenerate
    out["valid"] = [bool(ok.get((b, k), False)) for b, k in zip(out.block, out.estimand)]
    return out


def block_table(summary: pd.DataFrame, order: list[str]) -> str:
    """Per block and method, over the valid estimands: the range of coverage, how many leave the band,
    the largest and the median |bias|, the median width relative to complete data, seconds."""
    lines = [f"| block | method | reps | coverage: min / median / max | outside {BAND[0]}-{BAND[1]} | "
             "|bias| in SE: median / max | width / complete: median / max | seconds |", "|---|---|---|---|---|---|---|---|"]
    for b in dict.fromkeys(summary.block):
        for m in [x for x in order if ((summary.block == b) & (summary.method == x)).any()]:
            g = summary[(summary.block == b) & (summary.method == m) & summary.valid].dropna(subset=["coverage"])
            if g.empty:
                continue
            out = int(((g.coverage < BAND[0]) | (g.coverage > BAND[1])).sum())
            bias = g.bias_se.abs()
            lines.append(
                f"| {b} | {m} | {int(g.reps.max())} | {g.coverage.min():.2f} / {g.coverage.median():.2f} / "
                f"{g.coverage.max():.2f} | {out} of {len(g)} | {bias.median():.2f} / {bias.max():.2f} | "
                f"{g.width_ratio.median():.2f} / {g.width_ratio.max():.2f} | {g.seconds.mean():.1f} |")
    invalid = summary[(summary.method == "truth") & ~summary.valid]
    if len(invalid):
        lines.append("")
        lines.append(f"not judged (complete-data coverage outside {BAND[0]}-{BAND[1]}, or a degenerate interval): " +
                     ", ".join(f"{b} {k} ({c:.2f})" for b, k, c in zip(invalid.block, invalid.estimand, invalid.coverage)))
    return "\n".join(lines)


def estimand_table(summary: pd.DataFrame, block: str, order: list[str]) -> str:
    """Rows: estimands; columns: methods; cells: coverage (se) / bias in SE / width ratio."""
    g = summary[summary.block == block]
    methods = [m for m in order if (g.method == m).any()]
    lines = [f"| {block}: estimand | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for k in dict.fromkeys(g.estimand):
        cells = []
        for m in methods:
            s = g[(g.method == m) & (g.estimand == k)]
            if s.empty or not np.isfinite(s.coverage.iloc[0]):
                cells.append("-")
                continue
            s = s.iloc[0]
            cells.append(f"{s.coverage:.2f} ({s.coverage_se:.2f}) / {s.bias_se:+.2f} / {s.width_ratio:.2f}")
        valid = bool(g[g.estimand == k].valid.iloc[0])
        lines.append(f"| {k}{'' if valid else ' (not judged)'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def width_versus(summary: pd.DataFrame, order: list[str], reference: str = "mice") -> str:
    """Interval width against ``reference``'s, over the valid estimands where the reference covers (>= 0.85)."""
    ref = summary[summary.method == reference].set_index(["block", "estimand"])
    if ref.empty:
        return f"(no {reference} rows: no width comparison)"
    lines = [f"| block | method | estimands where {reference} covers | width / {reference}: median / max |", "|---|---|---|---|"]
    for b in dict.fromkeys(summary.block):
        for m in [x for x in order if x not in ("truth", reference)]:
            g = summary[(summary.block == b) & (summary.method == m) & summary.valid]
            ratios = [row.width / ref.loc[(b, row.estimand), "width"] for row in g.itertuples()
                      if (b, row.estimand) in ref.index and ref.loc[(b, row.estimand), "coverage"] >= BAND[0]]
            if ratios:
                lines.append(f"| {b} | {m} | {len(ratios)} | {np.median(ratios):.2f} / {np.max(ratios):.2f} |")
    return "\n".join(lines)


def headline(rows: list[dict], truths: dict[str, dict[str, float]], order: list[str]) -> str:
    """The issue's two level checks: slope of e18400 on wages, and the top-1%-by-wages means of the deductions block."""
    lines = ["| method | reps | slope e18400 on wages / truth | top 1% by wages: mean imputed block / truth |",
             "|---|---|---|---|"]
    t = truths.get("deductions")
    if t is None:
        return "(deductions block not run)"
    slope_key = "e18400~e00200:slope_imp_on_rec"
    top_keys = [f"{v}:top1_mean" for v in BLOCKS["deductions"].block]
    for m in order:
        mine = [r for r in rows if r["block"] == "deductions" and r["method"] == m]
        if not mine:
            continue
        slope = np.mean([r["estimates"][slope_key][0] for r in mine]) / t[slope_key]
        top = np.mean([sum(r["estimates"][k][0] for k in top_keys) for r in mine]) / sum(t[k] for k in top_keys)
        lines.append(f"| {m} | {len(mine)} | {slope:.3f} | {top:.3f} |")
    return "\n".join(lines)


def report(rows: list[dict], truths: dict[str, dict[str, float]], methods: list[str], detail: bool = True) -> str:
    summary = summarise(rows, truths)
    order = list(dict.fromkeys(methods + sorted(set(summary.method))))
    parts = [block_table(summary, order), "", headline(rows, truths, order), "", width_versus(summary, order)]
    if detail:
        parts.append("\ncells: coverage of the 90% interval (its standard error) / mean bias in SE / width relative "
                     "to the complete-data interval\n")
        for b in dict.fromkeys(summary.block):
            parts += [estimand_table(summary, b, order), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="inference benchmark: coverage, bias and width of pooled estimands")
    ap.add_argument("--data", type=Path, default=DATA, help="population Parquet file (the full CPS tax-unit file for claims)")
    ap.add_argument("--blocks", default=",".join(BLOCKS))
    ap.add_argument("--methods", default="truth,forest,qrf,hotdeck,mice,microimpute")
    ap.add_argument("--reps", default="0-99", help="replications: '0-99' or a comma list")
    ap.add_argument("--donors", type=int, default=5000)
    ap.add_argument("--recipients", type=int, default=5000)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--results", type=Path, default=RESULTS, help="JSON-lines file the run appends to and resumes from")
    ap.add_argument("--fresh", action="store_true", help="delete the results file first")
    ap.add_argument("--params", type=json.loads, default={},
                    help='JSON parameters per method label, e.g. \'{"forest:leaf3": {"min_samples_leaf": 3}}\'')
    ap.add_argument("--max-seconds", type=float, help="stop after this long (rerun to resume)")
    ap.add_argument("--microimpute-python", help="interpreter of an environment with microimpute (sets "
                                                  "SURVEYFUSE_MICROIMPUTE_PYTHON for this run)")
    ap.add_argument("--fused-resamples", type=int, help="also pool forest and qrf draws by the fused-file rule with "
                    "this many resamples (their mi_groups; --draws a multiple of it, at least twice)")
    ap.add_argument("--report-only", action="store_true", help="print the tables from the results file, run nothing")
    ap.add_argument("--no-detail", action="store_true", help="only the per-block summary and the level checks")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if args.microimpute_python:
        os.environ["SURVEYFUSE_MICROIMPUTE_PYTHON"] = args.microimpute_python
    blocks, methods = args.blocks.split(","), args.methods.split(",")
    bad = [b for b in blocks if b not in BLOCKS] + [m for m in methods if method_base(m) not in METHODS]
    if not args.report_only:  # a fused-rule row comes with its method's row (--fused-resamples), never alone
        bad += [m for m in methods if "+" in m]
    if bad:
        raise SystemExit(f"unknown block or method: {', '.join(bad)} (blocks: {', '.join(BLOCKS)}; methods: {', '.join(METHODS)})")
    if "-" in args.reps:
        lo, hi = args.reps.split("-")
        reps = list(range(int(lo), int(hi) + 1))
    else:
        reps = [int(r) for r in args.reps.split(",")]
    population = pd.read_parquet(args.data)
    if args.fresh and args.results.exists():
        args.results.unlink()
    if not args.report_only:
        print(f"population {args.data.name}: {len(population)} rows; {args.donors} donors, {args.recipients} "
              f"recipients, {args.draws} draws; results in {args.results}", file=sys.stderr)
        run(population, blocks, methods, reps, args.donors, args.recipients, args.draws, args.results, args.params,
            args.max_seconds, fused_resamples=args.fused_resamples)
    rows = [r for r in load_results(args.results) if r["block"] in blocks]
    truths = {b: population_values(BLOCKS[b], population) for b in blocks}
    print(f"\nInference benchmark: population {args.data.name} ({len(population)} rows), {args.donors} donors, "
          f"{args.recipients} recipients, {args.draws} imputations, 90% intervals; results file {args.results}\n")
    print(report(rows, truths, methods, detail=not args.no_detail))


if __name__ == "__main__":
    main()
