"""Sum JUnit XML results of all suites into one closing line: 'N passed, N failed'."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def counts(path: str) -> tuple[int, int, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    passed = failed = skipped = 0
    for s in suites:
        tests = int(s.get("tests", 0))
        fail = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skip = int(s.get("skipped", 0))
        passed += tests - fail - skip
        failed += fail
        skipped += skip
    return passed, failed, skipped


def main(paths: list[str]) -> int:
    total = [0, 0, 0]
    for p in paths:
        c = counts(p)
        print(f"{p}: {c[0]} passed, {c[1]} failed, {c[2]} skipped")
        total = [a + b for a, b in zip(total, c)]
    if total[0] + total[1] == 0:
        print("0 passed, 1 failed (no test ran)")
        return 1
    print(f"{total[0]} passed, {total[1]} failed" + (f", {total[2]} skipped" if total[2] else ""))
    return 0 if total[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
