"""R's mice and a StatMatch-style distance hot deck as comparison methods: the
same R function in-process through rpy2 and through Rscript, same draws."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from surveyfuse.evaluate import reference
from surveyfuse.evaluate.crossval import evaluate_methods

pytestmark = pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")


def _data(n=160, m=40, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.uniform(20, 70, n + m), "region": rng.choice(["n", "s"], n + m)})
    frame["wage"] = np.round(1000 * frame["age"] + rng.normal(0, 2000, n + m))
    frame["bonus"] = np.round(np.maximum(0, frame["wage"] / 20 + rng.normal(0, 300, n + m)))
    return frame.iloc[:n].reset_index(drop=True), frame.iloc[n:].reset_index(drop=True)


def _draws(name, monkeypatch, path):
    monkeypatch.setenv("SURVEYFUSE_R", path)
    assert reference.r_path() == path
    train, test = _data()
    D, _, _ = reference.run_reference(name, train, test.drop(columns=["wage", "bonus"]), ["wage", "bonus"],
                                      ["age", "region"], ["region"], None, 3, 7)
    return D, train


@pytest.mark.parametrize("name", ["mice", "statmatch"])
def test_rpy2_and_rscript_give_the_same_draws(name, monkeypatch):
    if reference._rpy2() is None:  # not importorskip: starting R through it would leak R's LD_LIBRARY_PATH
        pytest.skip("rpy2 is not installed for this R")
    via_rpy2, train = _draws(name, monkeypatch, "rpy2")
    via_rscript, _ = _draws(name, monkeypatch, "rscript")
    for c in ("wage", "bonus"):
        assert via_rpy2[c].shape == (3, 40)
        np.testing.assert_array_equal(via_rpy2[c], via_rscript[c])
        assert np.isin(via_rpy2[c], train[c]).all()  # both are donor-value methods


def test_statmatch_draws_among_the_nearest_donors(monkeypatch):
    D, train = _draws("statmatch", monkeypatch, "rscript")
    _, test = _data()
    # every drawn record is a donor record (the block travels together) from the recipient's region
    for j in range(len(test)):
        for d in range(3):
            donor = train[(train["wage"] == D["wage"][d, j]) & (train["bonus"] == D["bonus"][d, j])]
            assert len(donor) >= 1 and (donor["region"] == test["region"][j]).any()


def test_starting_r_in_process_leaves_child_processes_alone():
    reference._rpy2()
    assert "LD_LIBRARY_PATH" not in os.environ or "/usr/lib/R" not in os.environ["LD_LIBRARY_PATH"]


def test_inside_an_r_session_the_references_use_rscript(monkeypatch):
    monkeypatch.delenv("SURVEYFUSE_R", raising=False)
    monkeypatch.setenv("R_SESSION_TMPDIR", "/tmp/Rtmp")
    assert reference.r_path() == "rscript"


def test_statmatch_is_a_row_of_the_evaluation():
    train, _ = _data(n=200, m=0)
    ev = evaluate_methods(train, ["wage", "bonus"], ["age", "region"], ["hotdeck", "statmatch"], folds=2, draws=4,
                          categorical=["region"], seed=1)
    assert set(ev.table().index) == {"hotdeck", "statmatch"}
    assert ev.metrics["methods"]["statmatch"]["overall"]["energy_score"] > 0
