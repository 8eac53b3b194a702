#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Count test cases over meson's test logs of the given build directories:
each TAP line of the cmocka tests and each pytest case, not just each
meson test.  A meson test that failed without reporting cases (a crash,
a timeout) counts as one failure.  Prints "N passed, N failed"."""
import json
import re
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    with open(f"{build}/meson-logs/testlog.json") as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            ok = t["result"] in ("OK", "EXPECTEDFAIL")
            if t["result"] == "SKIP":
                skipped += 1
                continue
            tap_ok = len(re.findall(r"^ok \d+", out, re.M))
            tap_bad = len(re.findall(r"^not ok \d+", out, re.M))
            m = re.search(r"^=*\s*(.*\b(passed|failed|error|errors)\b.*) in [\d.]+s", out, re.M)
            if tap_ok + tap_bad:
                p, fl = tap_ok, tap_bad
            elif m:
                counts = dict((k, int(v)) for v, k in
                              re.findall(r"(\d+) (passed|failed|errors?|skipped)", m.group(1)))
                p = counts.get("passed", 0)
                fl = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
                skipped += counts.get("skipped", 0)
            else:
                p, fl = (1, 0) if ok else (0, 1)
            if not ok and fl == 0:
                fl = 1  # the run failed after its cases passed (sanitizer, crash)
            passed += p
            failed += fl
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or passed == 0 else 0)
