"""Each backend declares its parameters once (``param_schema``); defaults, checks and listings all read it."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from surveyfuse.backends import REFIT_SCHEMA, make_backend
from surveyfuse.backends.params import ParamValidator
from surveyfuse.errors import SurveyfuseError
from surveyfuse.methods import AUTO, REGISTRY, backend_class, method_parameters, method_schema, parameter_table

pytest.importorskip("torch")
METHODS = sorted(REGISTRY)


@pytest.mark.parametrize("name", METHODS)
def test_schema_is_valid_and_its_defaults_are_default_params(name):
    cls = backend_class(name)
    schema = cls.param_schema
    Draft202012Validator.check_schema(schema)
    defaults = {k: p["default"] for k, p in schema["properties"].items()}
    assert defaults == cls.default_params and list(defaults) == list(cls.default_params)
    assert ParamValidator(schema).is_valid(cls.default_params)
    for key, prop in schema["properties"].items():
        assert prop["expected"] and prop["description"], f"{name}.{key} lacks its expected text or description"
    cls()  # the defaults pass the checks in code too


@pytest.mark.parametrize("name", METHODS + [AUTO])
def test_listings_read_the_schema(name):
    schema = method_schema(name)
    Draft202012Validator.check_schema(schema)
    assert method_parameters(name) == {k: p["default"] for k, p in schema["properties"].items()}
    assert [r["name"] for r in parameter_table(name)] == list(schema["properties"])


def test_refit_backends_list_the_wrapper_parameters():
    Draft202012Validator.check_schema(REFIT_SCHEMA)
    for name in METHODS:
        params = method_parameters(name)
        if backend_class(name).proper_mi == "refit":
            assert params["mi"] == "auto" and params["mi_resamples"] == 10
            assert "mi" not in backend_class(name).default_params  # the wrapper's, not the backend's
        else:
            assert "mi_resamples" not in params


@pytest.mark.parametrize("name", METHODS)
def test_a_value_outside_the_schema_is_refused_with_its_expected_text(name):
    schema = method_schema(name)
    for key, prop in schema["properties"].items():
        with pytest.raises(SurveyfuseError) as err:
            make_backend(name, {key: {"not": "a parameter value"}})
        assert err.value.code == "bad_param"
        assert err.value.context["param"] == key and err.value.context["method"] == name
        assert err.value.context["expected"] == prop["expected"]
        assert prop["expected"] in str(err.value)


@pytest.mark.parametrize("bad, param", [({"n_estimators": 2.0}, "n_estimators"), ({"extra_trees": 1}, "extra_trees"),
                                        ({"max_features": 1.5}, "max_features"), ({"leaf_candidates": []}, "leaf_candidates"),
                                        ({"mi_groups": 61}, "mi_groups"), ({"n_jobs": 0}, "n_jobs"),
                                        ({"holdout_fraction": 0.6}, "holdout_fraction"), ({"level_max_factor": 0.5}, "level_max_factor")])
def test_forest_refuses_what_it_refused_before(bad, param):
    with pytest.raises(SurveyfuseError) as err:
        make_backend("forest", bad)
    assert err.value.context["param"] == param


def test_python_types_not_json_types():
    make_backend("forest", {"leaf_candidates": (5, 10), "max_features": 2, "max_samples": None})
    make_backend("hotdeck", {"classes": ("a",)})
    for bad in ({"k": True}, {"k": 3.0}):
        with pytest.raises(SurveyfuseError):
            make_backend("hotdeck", bad)


def test_checks_across_parameters_stay():
    with pytest.raises(SurveyfuseError) as err:
        make_backend("qrf", {"n_estimators": 5, "mi_groups": 6})
    assert err.value.context["param"] == "mi_groups"
    with pytest.raises(SurveyfuseError) as err:
        make_backend("diffusion", {"timesteps": 10, "sampling_steps": 20})
    assert err.value.context["param"] == "sampling_steps"
    with pytest.raises(SurveyfuseError) as err:
        make_backend("ctgan", {"batch_size": 4, "pac": 10})
    assert err.value.context["param"] == "batch_size"
    with pytest.raises(SurveyfuseError) as err:
        make_backend("tvae", {"mi": "refit", "mi_resamples": 0})
    assert err.value.context["param"] == "mi_resamples"


def test_cli_prints_a_methods_parameters(capsys):
    from surveyfuse.cli import main

    assert main(["methods", "hotdeck"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("k  default 10: a positive integer")
    assert any(line.startswith("level_columns  default null:") for line in lines)
