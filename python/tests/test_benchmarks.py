"""The forest benchmark harness on a tiny split, so ``make bench`` cannot rot unseen.

Speed and accuracy goals are not asserted here (they belong to ``make bench``);
these tests check that the harness runs and that its ratios mean what the
table headers say.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "python" / "benchmarks"))
bench_forest = pytest.importorskip("bench_forest")


def test_marginal_draws_ignore_the_predictors_and_follow_the_weights():
    donor, recipient = bench_forest.split(400, 50, seed=0)
    donor[bench_forest.WEIGHT] = 0.0
    donor.loc[7, bench_forest.WEIGHT] = 1.0  # all weight on one record
    D, _ = bench_forest.run_marginal(bench_forest.TASKS["wages"], donor, recipient, 5, 0)
    assert D.shape == (5, 50, 3)
    assert np.all(D == donor.loc[7, bench_forest.TASKS["wages"].block].to_numpy(dtype=float))


def test_seed_summary_ratios_are_per_seed_geometric_means():
    rows = [
        {"task": "wages", "method": m, "seed": s, "energy": e, "pinball": 1.0, "cover90": 0.9, "violations": 0.0,
         "seconds": 1.0}
        for m, s, e in [("microimpute", 0, 2.0), ("forest", 0, 1.0), ("microimpute", 1, 1.0), ("forest", 1, 2.0)]
    ]
    text = bench_forest.seed_summary(rows)
    forest = next(line for line in text.splitlines() if line.startswith("| wages | forest"))
    assert "| 1.000 (0.500-2.000) |" in forest  # sqrt(0.5 * 2.0), with the range over seeds


def test_energy_parts_add_up_to_the_energy_score_and_isolate_the_farthest_rows():
    donor, recipient = bench_forest.split(600, 400, seed=0)
    task = bench_forest.TASKS["wages"]
    D, _ = bench_forest.run_marginal(task, donor, recipient, 6, 0)
    scored = bench_forest.score(task, D, donor, recipient, 1.0)
    parts = scored["energy_parts"]
    assert len(parts) == 3 and np.isclose(sum(parts), scored["energy"])
    # the farthest 1% of rows (4 of 400) carry far more than 1% of a predictor-blind score
    assert parts[2] / scored["energy"] > 0.05


def test_parts_summary_gives_shares_of_the_reference_and_ratios_part_by_part():
    rows = [
        {"task": "wages", "method": m, "seed": s, "energy": sum(p), "energy_parts": p}
        for m, s, p in [("microimpute", 0, [1.0, 1.0, 2.0]), ("forest", 0, [0.5, 1.0, 2.2]),
                        ("microimpute", 1, [1.0, 1.0, 2.0]), ("forest", 1, [0.5, 1.0, 2.2])]
    ]
    forest = next(line for line in bench_forest.parts_summary(rows).splitlines() if line.startswith("| wages | forest"))
    assert forest == "| wages | forest | 0.25 / 0.500 | 0.25 / 1.000 | 0.50 / 1.100 |"


def test_benchmark_tables_print_their_draws_scores_and_rank_the_forest_above_blind_draws(capsys):
    """End to end on a small split: each seed's table holds the score of that seed's draws (the
    predictor-blind row recomputed here from the same split), the forest beats draws that ignore the
    predictors, and the forest's draws keep the wage identities that blind draws break."""
    bench_forest.main(["--donors", "600", "--recipients", "200", "--draws", "4", "--tasks", "wages",
                       "--methods", "forest,marginal", "--seeds", "0,1"])
    out = capsys.readouterr().out
    assert "### summary over seeds 0,1" in out
    tables = {int(part.split("\n", 1)[0]): part for part in out.split("### seed ")[1:]}
    assert sorted(tables) == [0, 1]
    task = bench_forest.TASKS["wages"]
    for seed, text in tables.items():
        cells = {line.split("|")[2].strip(): line.split("|") for line in text.splitlines() if line.startswith("| wages |")}
        energy = {m: float(row[3]) for m, row in cells.items()}
        violations = {m: float(row[9]) for m, row in cells.items()}
        donor, recipient = bench_forest.split(600, 200, seed)
        D, _ = bench_forest.run_marginal(task, donor, recipient, 4, seed)
        assert energy["marginal"] == pytest.approx(bench_forest.score(task, D, donor, recipient, 0.0)["energy"], abs=5e-5)
        assert energy["forest"] < 0.97 * energy["marginal"], (seed, energy)
        assert violations["forest"] == 0.0 < violations["marginal"], (seed, violations)


def test_params_reach_the_surveyfuse_method(tmp_path):
    out = tmp_path / "rows.json"
    bench_forest.main(["--donors", "400", "--recipients", "100", "--draws", "3", "--tasks", "wages",
                       "--methods", "forest", "--params", '{"forest": {"min_samples_leaf": 7}}', "--json", str(out)])
    (row,) = json.loads(out.read_text())
    assert row["params"]["min_samples_leaf"] == 7 and row["params"]["chosen_by"] == "user"


@pytest.mark.parametrize("params, message", [('{"mice": {}}', "mice \\(--params\\)"), ('[1]', "JSON object of objects")])
def test_params_for_other_methods_are_refused(params, message):
    with pytest.raises(SystemExit, match=message):
        bench_forest.main(["--methods", "forest", "--params", params])


def test_unknown_method_is_refused():
    with pytest.raises(SystemExit, match="unknown method or task: nope"):
        bench_forest.main(["--methods", "forest,nope"])


def test_curve_table_compares_the_largest_donor_set_with_microimpute_at_the_smallest():
    rows = [{"task": "wages", "method": m, "donors": n, "energy": e}
            for m, n, e in [("forest", 100, 1.0), ("forest", 400, 0.8), ("microimpute", 100, 1.25)]]
    text = bench_forest.curve_table(rows, [100, 400])
    forest = next(line for line in text.splitlines() if line.startswith("| wages | forest"))
    assert forest.endswith("| 1.0000 (1.000) | 0.8000 (0.800) | 0.640 |")  # 0.8 / 1.25
    mi = next(line for line in text.splitlines() if line.startswith("| wages | microimpute"))
    assert "| - |" in mi  # microimpute was not run on the larger set


bench_deep = pytest.importorskip("bench_deep")


def test_spending_block_is_the_exact_sum_of_its_parts():
    donors, recipient, reference = bench_deep.learning_curve_splits([200], 50, seed=0)
    for frame in (donors[0], recipient, reference):
        assert (frame["outlays"] == frame[bench_deep.OUTLAY_PARTS].sum(axis=1)).all()
    assert len(reference) == bench_deep.REFERENCE_DONORS and len(donors[0]) == 200


def test_deep_learning_curve_is_resumable_and_tabled(tmp_path, capsys):
    results = tmp_path / "curve.jsonl"
    args = ["--tasks", "spending", "--methods", "forest,marginal,microimpute", "--donor-sizes", "200",
            "--recipients", "80", "--draws", "3", "--results", str(results), "--microimpute-python", str(tmp_path / "none")]
    bench_deep.main(args)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["method"] for r in rows} == {"forest", "marginal"}  # no microimpute interpreter: skipped
    assert all(r["violations"] == 0 for r in rows if r["method"] == "forest")
    capsys.readouterr()
    bench_deep.main(args)  # a rerun finds every row done and only prints the tables
    assert len(results.read_text().splitlines()) == len(rows)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("| spending | forest"))
    assert line.startswith(f"| spending | forest | {rows[0]['cover90']:.2f} / ES {rows[0]['energy']:.3f} /")


bench_inference = pytest.importorskip("bench_inference")


def test_top_share_variance_matches_its_sampling_variance():
    """The linearised variance of the top-decile share against its spread over repeated samples."""
    g = np.random.default_rng(0)
    shares, variances = [], []
    for _ in range(300):
        y = np.where(g.random(2000) < 0.3, 0.0, np.exp(g.normal(8, 1.2, 2000)))
        share, var = bench_inference._top_share_var(y, np.ones(2000))
        shares.append(share)
        variances.append(var)
    assert 0.8 < np.mean(variances) / np.var(shares, ddof=1) < 1.25


def test_inference_run_resumes_and_scores_against_the_population(tmp_path):
    population = bench_inference.pd.read_parquet(bench_inference.DATA).iloc[:6000].reset_index(drop=True)
    results = tmp_path / "rows.jsonl"
    args = (population, ["deductions"], ["truth", "hotdeck:plain"], [0, 1], 600, 600, 3, results,
            {"hotdeck:plain": {"levels": "none", "mi": "none"}})
    bench_inference.run(*args, verbose=False)
    rows = bench_inference.load_results(results)
    assert [(r["rep"], r["method"]) for r in rows] == [(0, "truth"), (0, "hotdeck:plain"), (1, "truth"), (1, "hotdeck:plain")]
    bench_inference.run(*args, verbose=False)  # everything done: nothing is appended
    assert len(bench_inference.load_results(results)) == 4
    truths = {"deductions": bench_inference.population_values(bench_inference.BLOCKS["deductions"], population)}
    summary = bench_inference.summarise(rows, truths)
    mine = summary[summary.method == "truth"].set_index("estimand")
    assert (mine.width_ratio.dropna() == 1.0).all() and (mine.reps == 2).all()
    assert "e18400~e00200:slope_imp_on_rec" in mine.index and "e18400:top1_mean" in mine.index
    # two replications cannot show a complete-data coverage inside 0.85-0.95: nothing is judged yet
    assert "not judged" in bench_inference.block_table(summary, ["truth", "hotdeck:plain"])
    table = bench_inference.estimand_table(summary, "deductions", ["truth", "hotdeck:plain"])
    assert table.splitlines()[0] == "| deductions: estimand | truth | hotdeck:plain |"
