"""Project-level invariants: one version everywhere, the schema shipped with the package."""

from __future__ import annotations

import json
import re

import surveyfuse
from surveyfuse.pipeline.spec import task_schema

from conftest import REPO, SPECS


def test_version_matches_version_file():
    assert surveyfuse.__version__ == (REPO / "VERSION").read_text().strip()


def test_r_description_version_matches():
    desc = REPO / "r-package" / "DESCRIPTION"
    if desc.exists():
        version = re.search(r"^Version:\s*(\S+)", desc.read_text(), re.M).group(1)
        assert version == surveyfuse.__version__


def test_packaged_schema_is_the_shared_schema():
    assert task_schema() == json.loads((SPECS / "schema" / "task.schema.json").read_text())


def test_every_error_code_is_documented():
    doc = (REPO / "docs" / "errors.md").read_text()
    for code in surveyfuse.ERROR_CODES:
        assert f"`{code}`" in doc, code
