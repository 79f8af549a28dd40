#!/usr/bin/env python3
"""Helpers for conformance/run.sh: reads librdkafka's test list and turns one
test-runner log into one result line.

  suite.py catalogue TEST_C
      One line per test number in librdkafka's tests/test.c table:
      NUMBER <TAB> NAME <TAB> KIND <TAB> SCENARIOS
      KIND is "broker" (at least one entry needs a broker), "local" (every
      entry runs without a broker) or "manual"; SCENARIOS lists, comma
      separated, the test scenarios of the broker entries (usually "default").

  suite.py outcome LOG NUMBER SCENARIO CATALOGUE_ENTRIES EXIT_STATUS TIMEOUT
      Prints STATUS <TAB> REASON, STATUS one of passed, failed, skipped.
      CATALOGUE_ENTRIES is the comma-separated list of the test-runner entry
      names that belong to NUMBER in SCENARIO (see `entries`).

  suite.py entries TEST_C NUMBER SCENARIO
      The entry names of NUMBER that need a broker and run in SCENARIO.

Why parse test.c rather than ask test-runner: it has no "list" option, and
the table also tells which entries need a broker (TEST_F_LOCAL), are manual
(TEST_F_MANUAL) or need another broker setup (.scenario).
"""
import re
import signal
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\(B")


def parse_table(test_c):
    with open(test_c, encoding="utf-8", errors="replace") as fh:
        src = fh.read()
    start = src.index("struct test tests[] = {")
    end = src.index("{NULL}", start)
    body = re.sub(r"/\*.*?\*/", "", src[start:end], flags=re.S)
    entries = []
    for chunk in body.split("_TEST(")[1:]:
        name = re.match(r"\s*([0-9A-Za-z_]+)", chunk).group(1)
        scen = re.search(r'\.scenario\s*=\s*"([^"]*)"', chunk)
        entries.append({
            "name": name,
            "number": name.split("_", 1)[0],
            "local": bool(re.search(r"\bTEST_F_LOCAL\b", chunk)),
            "manual": bool(re.search(r"\bTEST_F_MANUAL\b", chunk)),
            # Entries may list several scenarios ("default,ak23"); the
            # runner matches with strstr, so "default" matches both.
            "scenarios": (scen.group(1) if scen else "default").split(","),
        })
    return entries


def broker_entries(entries, number, scenario):
    return [e["name"] for e in entries
            if e["number"] == number and not e["local"] and not e["manual"]
            and scenario in e["scenarios"]]


def cmd_catalogue(test_c):
    entries = parse_table(test_c)
    numbers = []
    for e in entries:
        if e["number"] not in numbers:
            numbers.append(e["number"])
    for n in numbers:
        mine = [e for e in entries if e["number"] == n]
        broker = [e for e in mine if not e["local"] and not e["manual"]]
        if broker:
            kind = "broker"
            scen = []
            for e in broker:
                s = "default" if "default" in e["scenarios"] else e["scenarios"][0]
                if s not in scen:
                    scen.append(s)
            first = broker[0]["name"]
        else:
            kind = "manual" if all(e["manual"] for e in mine) else "local"
            scen = ["default"]
            first = mine[0]["name"]
        print(f"{n}\t{first.split('_', 1)[1]}\t{kind}\t{','.join(scen)}")


def clean(text):
    text = ANSI.sub("", text).strip()
    return re.sub(r"\s+", " ", text)


def first_failure(lines):
    """The first '### Test "NAME (SUBTEST)" failed at FILE:LINE:FUNC() ...'
    block: returns 'SUBTEST: FUNC(): MESSAGE' (first line of the message)."""
    hdr = re.compile(r'### Test "([^"]*)" failed at ([^:]*):(\d+):([^ ]*) at ')
    for i, line in enumerate(lines):
        m = hdr.search(line)
        if not m:
            continue
        msg = ""
        for follow in lines[i + 1:i + 4]:
            follow = clean(follow)
            if follow:
                msg = follow
                break
        sub = re.search(r"\((.*)\)$", m.group(1))
        where = f"{m.group(4)}" if not sub else f"{sub.group(1)}: {m.group(4)}"
        return m.group(1).split(" ")[0], f"{where}: {msg}"
    return None, None


def summary_rows(lines):
    """Rows of test-runner's final SUMMARY table: name -> (STATE, failstr)."""
    rows = {}
    row = re.compile(r"^\|\s*(\S+)\s*\|\s*([A-Z_]+)\s*\|\s*[0-9.]+s\s*\|(.*)$")
    for line in lines:
        m = row.match(clean(line))
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3).strip())
    return rows


def cmd_outcome(log, number, scenario, names, status, timeout):
    names = [n for n in names.split(",") if n]
    status = int(status)
    with open(log, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    rows = summary_rows(lines)
    fail_test, fail_msg = first_failure(lines)

    # 124: `timeout` stopped test-runner. The suite's own per-test timeout
    # SIGKILLs the process too (137), but leaves a failure message first.
    if status == 124 or (status == 137 and not fail_msg and not rows):
        reason = f"no result within {timeout} s (stopped by the runner's --timeout)"
        if fail_msg:
            reason += f"; first failure: {fail_msg}"
        return "failed", reason

    failed, passed, skipped = [], [], []
    for n in names:
        state, failstr = rows.get(n, ("MISSING", ""))
        if state in ("FAILED", "RUNNING", "MISSING"):
            failed.append((n, state, failstr))
        elif state == "PASSED":
            passed.append(n)
        else:
            skipped.append((n, failstr))

    if failed or (status != 0 and not rows):
        if fail_msg:
            return "failed", fail_msg
        for n, state, failstr in failed:
            if failstr:
                return "failed", clean(failstr)
        tail = [clean(l) for l in lines if clean(l)][-1:]
        what = f"test-runner exited with status {status}"
        if status > 128:
            try:
                sig = signal.Signals(status - 128).name
            except ValueError:
                sig = f"signal {status - 128}"
            what = f"test-runner (the client) crashed with {sig}"
        return "failed", what + (f"; last line: {tail[0]}" if tail else "")
    if status != 0:
        return "failed", fail_msg or f"test-runner exited with status {status}"
    if passed:
        return "passed", ""
    if skipped:
        reason = clean(skipped[0][1]) or "skipped by test-runner"
        if reason.startswith("Filtered due to negative test flags"):
            reason = "marked as a known issue in librdkafka's test.c (not run by default)"
        return "skipped", "suite: " + reason
    return "skipped", "suite: no entry ran in this build"


def main(argv):
    if len(argv) == 3 and argv[1] == "catalogue":
        cmd_catalogue(argv[2])
    elif len(argv) == 5 and argv[1] == "entries":
        print(",".join(broker_entries(parse_table(argv[2]), argv[3], argv[4])))
    elif len(argv) == 8 and argv[1] == "outcome":
        status, reason = cmd_outcome(*argv[2:])
        print(f"{status}\t{reason[:300]}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
