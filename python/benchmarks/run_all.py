"""Run every benchmark (``make bench``). Each benchmark is a module with ``main(argv)``.

Heavy on purpose: not part of ``make test``. Pass ``--quick`` for a small run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_deep  # noqa: E402
import bench_evaluate  # noqa: E402
import bench_forest  # noqa: E402
import bench_inference  # noqa: E402
import bench_precision  # noqa: E402
import bench_scale  # noqa: E402

BENCHMARKS = {
    "forest": bench_forest.main,
    "inference": bench_inference.main,
    "deep": bench_deep.main,
    "scale": bench_scale.main,
    "evaluate": bench_evaluate.main,
    "precision": bench_precision.main,
}
QUICK_ARGS = {
    "forest": ["--donors", "3000", "--recipients", "1000"],
    "inference": ["--reps", "0-4", "--blocks", "deductions", "--methods", "truth,forest,hotdeck", "--draws", "20",
                  "--fused-resamples", "10", "--results", str(bench_inference.RESULTS.with_name("quick.jsonl")), "--fresh"],
    "deep": ["--tasks", "investment", "--methods", "forest,tvae,microimpute,marginal", "--donor-sizes", "1000"],
    "scale": ["--sizes", "1000,20000"],
    "evaluate": ["--folds", "3", "--draws", "10", "--max-rows", "3000"],
    "precision": ["--methods", "hotdeck,forest"],
}


#: further full runs after a benchmark's default one: the fused-file rule wants 10 draws per tree group
EXTRA_FULL_ARGS = {
    "inference": [["--methods", "truth,forest", "--draws", "100", "--fused-resamples", "10",
                   "--results", str(bench_inference.RESULTS.with_name("fused.jsonl"))]],
}


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for name, run in BENCHMARKS.items():
        print(f"== benchmark: {name}", flush=True)
        run(QUICK_ARGS[name] if quick else [])
        for extra in ([] if quick else EXTRA_FULL_ARGS.get(name, [])):
            print(f"== benchmark: {name} {' '.join(extra[:6])}", flush=True)
            run(extra)


if __name__ == "__main__":
    main()
