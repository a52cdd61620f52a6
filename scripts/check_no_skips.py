"""Fail when a pytest run (its JUnit XML report) ran no test or skipped one.

    python scripts/check_no_skips.py REPORT.xml [--only-in-ci]

An expected failure (xfail) is not a skip. With ``--only-in-ci`` skips are reported but
only fail the run when $CI is set (backends whose server a developer may not have).
"""

from __future__ import annotations

import argparse
import os
import sys
import xml.etree.ElementTree as ET


def skipped_cases(report: str) -> tuple[int, list[str]]:
    """(number of test cases, 'name: reason' for every real skip)."""
    root = ET.parse(report).getroot()  # our own pytest report: trusted input
    total = 0
    skipped: list[str] = []
    for case in root.iter("testcase"):
        total += 1
        for skip in case.findall("skipped"):
            if skip.get("type") == "pytest.xfail":
                continue
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            skipped.append(f"{name}: {skip.get('message', '')}")
    return total, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--only-in-ci", action="store_true")
    args = parser.parse_args(argv)
    total, skipped = skipped_cases(args.report)
    if total == 0:
        print(f"check_no_skips: {args.report} holds no test case", file=sys.stderr)
        return 1
    if not skipped:
        print(f"check_no_skips: {total} tests, none skipped")
        return 0
    print(f"check_no_skips: {len(skipped)} of {total} tests skipped:", file=sys.stderr)
    for line in skipped:
        print(f"  {line}", file=sys.stderr)
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if args.only_in_ci and not in_ci:
        print("check_no_skips: allowed outside CI", file=sys.stderr)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
