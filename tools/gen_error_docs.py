"""Regenerate docs/errors.md from surveyfuse.errors.ERROR_CODES (a test checks they agree)."""

from pathlib import Path

from surveyfuse.errors import ERROR_CODES

HEADER = """# Error codes

Every failure a user can cause has a stable code, the same in Python (`SurveyfuseError.code`),
the CLI (`error[code]: message` on stderr, exit status 2; `--json` prints `{"error": {code, message, context}}`)
and R (condition classes `surveyfuse_error_<code>` and `surveyfuse_error`). The message names the column,
row or token and what was expected; `context` holds the same facts as fields. Codes are never renamed.
A failed run writes nothing: outputs are written to a temporary file and renamed into place.

| code | meaning |
|---|---|
"""

FOOTER = "\n`surveyfuse errors --json` prints this table for programs (the R package reads it from the core).\n"

if __name__ == "__main__":
    rows = "".join(f"| `{c}` | {m} |\n" for c, m in ERROR_CODES.items())
    (Path(__file__).resolve().parents[1] / "docs" / "errors.md").write_text(HEADER + rows + FOOTER)
