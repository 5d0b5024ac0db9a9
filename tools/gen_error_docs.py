"""Regenerate docs/errors.md from surveyfuse.errors.ERROR_CODES (a test checks they agree)."""

from pathlib import Path

from surveyfuse.errors import ERROR_CODES

HEADER = """# Error codes

Every failure a user can cause has a stable code, the same in Python (`SurveyfuseError.code`),
the CLI (`error[code]: message` on stderr, exit status 2; `--json` prints `{"error": {code, message, context}}`)
and R (condition classes `surveyfuse_error_<code>` and `surveyfuse_error`). The message names the column,
row or token and what was expected; `context` holds the same facts as fields. Codes are never renamed.
A failed run writes nothing: outputs are written under a temporary name in the target's folder
(`.<name>.sf-tmp-<pid>-<random>`) and renamed into place when complete. A run stopped by SIGTERM,
SIGHUP or Ctrl-C removes its temporaries and exits with 128 + the signal number; one killed outright
(SIGKILL) cannot, but the next run writing the same output removes what it left (see docs/scale.md).

| code | meaning |
|---|---|
"""

FOOTER = """
`surveyfuse errors --json` prints this table for programs (the R package reads it from the core).

## Limits refused up front

| limit | code | what to do |
|---|---|---|
| a constraint nests parentheses more than 64 deep | `constraint_too_deep` | split it into several constraints |
| a constraint is longer than 20,000 characters or holds more than 200 comparisons | `constraint_too_long` | split it into several constraints |
| the draws of one chunk would need more memory than the machine has (an estimate: recipient rows at a time x draws x output columns, against physical memory or the container's limit) | `insufficient_memory` | the message gives the largest `--chunk-rows` (spec: `chunk_rows`) and the most draws that fit |
| constraints leave out more than 1% of the donor weight, with `--strict` or `"strict": true` | `donors_dropped` | correct those rows, or set a `tolerance` if the differences are rounding (docs/constraints.md) |

Without `--strict`, the last case is a warning (`warning[donors_dropped]: ...` on stderr, `SurveyfuseWarning` in
Python, an R warning) and the run summary lists it under `warnings`.
"""

if __name__ == "__main__":
    rows = "".join(f"| `{c}` | {m} |\n" for c, m in ERROR_CODES.items())
    (Path(__file__).resolve().parents[1] / "docs" / "errors.md").write_text(HEADER + rows + FOOTER)
