#!/usr/bin/env python3
"""The regression guard's own test (run by `make check`): bench/check.py
must pass a results file within the thresholds and fail one that
regressed by more than 20%, in either direction of "better";
bench/report.py must turn contract rows into the ratios check.py reads;
bench/run.sh must list every benchmark it ran with its status (ok,
failed, skipped and why)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def run(*args):
    p = subprocess.run([PY] + list(args), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def expect(cond, what, out=""):
    if not cond:
        print("test_check: FAILED: %s\n%s" % (what, out))
        sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="actr-bench-check-")
    thr = os.path.join(tmp, "thresholds.json")
    write(thr, {"max_regression": 0.20, "ratios": {
        "echo 64 B | actr / raw UDP | p50_us":
            {"value": 2.0, "better": "lower"},
        "one-way 64 KiB | actr / raw UDP | throughput":
            {"value": 1.5, "better": "higher"},
    }})
    check = os.path.join(HERE, "check.py")

    def latest(p50_ratio, tput_ratio):
        path = os.path.join(tmp, "latest.json")
        ratios = {}
        if p50_ratio is not None:
            ratios["echo 64 B | actr / raw UDP | p50_us"] = {
                "value": p50_ratio, "better": "lower"}
        if tput_ratio is not None:
            ratios["one-way 64 KiB | actr / raw UDP | throughput"] = {
                "value": tput_ratio, "better": "higher"}
        write(path, {"ratios": ratios})
        return path

    # within 20%: passes (a bit worse, and better)
    rc, out = run(check, latest(2.3, 1.3), thr)
    expect(rc == 0, "2.3 vs 2.0 lower-better and 1.3 vs 1.5 "
           "higher-better are within 20%", out)
    rc, out = run(check, latest(1.0, 3.0), thr)
    expect(rc == 0, "improvements pass", out)
    # latency ratio 25% worse: fails
    rc, out = run(check, latest(2.5, 1.5), thr)
    expect(rc == 1 and "REGRESSED" in out and "echo 64 B" in out,
           "a latency ratio 25% worse must fail", out)
    # throughput ratio 25% worse (1.5 / 1.2): fails
    rc, out = run(check, latest(2.0, 1.19), thr)
    expect(rc == 1 and "one-way 64 KiB" in out,
           "a throughput ratio 26% lower must fail", out)
    # a ratio missing (benchmark skipped): listed, not a failure
    rc, out = run(check, latest(2.0, None), thr)
    expect(rc == 0 and "missing" in out, "a missing ratio is listed", out)
    # an unreadable results file: an error, not a pass
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write("{not json")
    rc, out = run(check, bad, thr)
    expect(rc == 2, "an unreadable results file is an error", out)

    # report.py: contract rows -> ratios keyed as check.py expects
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir)
    rows = [
        {"bench": "datachannel", "group": "echo 64 B", "row": "actr",
         "role": "subject", "p50_us": 30.0, "p99_us": 40.0},
        {"bench": "datachannel", "group": "echo 64 B", "row": "raw UDP",
         "role": "baseline", "p50_us": 15.0, "p99_us": 20.0},
        {"bench": "peers", "group": "echo 64 B", "row": "libdatachannel",
         "role": "peer", "p50_us": 100.0},
    ]
    with open(os.path.join(run_dir, "results.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write("{broken line\n")
    with open(os.path.join(run_dir, "status.jsonl"), "w") as f:
        f.write(json.dumps({"bench": "media", "status": "failed",
                            "seconds": 1, "reason": "exit 1"}) + "\n")
    res = os.path.join(tmp, "res")
    env = dict(os.environ, PATH="/nonexistent")  # no gnuplot: a note
    p = subprocess.run([PY, os.path.join(HERE, "report.py"), run_dir, res],
                       capture_output=True, text=True, timeout=120, env=env)
    expect(p.returncode == 0, "report.py runs", p.stdout + p.stderr)
    doc = json.load(open(os.path.join(res, "latest.json")))
    r = doc["ratios"]
    expect(abs(r["echo 64 B | actr / raw UDP | p50_us"]["value"] - 2.0)
           < 1e-9, "subject / baseline p50 ratio", json.dumps(r))
    expect(abs(r["echo 64 B | actr / libdatachannel | p50_us"]["value"]
               - 0.3) < 1e-9, "subject / peer p50 ratio", json.dumps(r))
    md = open(os.path.join(res, "latest.md")).read()
    expect("| media | failed |" in md, "a failed benchmark is listed", md)
    expect("not JSON" in md, "a malformed row is reported", md)
    # run.sh: a benchmark that writes a row, one that fails, one that is
    # skipped: each has its status line in the report, none goes missing
    fake = os.path.join(tmp, "build")
    os.makedirs(os.path.join(fake, "bench"))
    progs = {
        "fake_ok": 'printf \'{"bench":"fake_ok","group":"g","row":"actr",'
                   '"role":"subject","p50_us":2}\\n{"bench":"fake_ok",'
                   '"group":"g","row":"raw","role":"baseline",'
                   '"p50_us":1}\\n\' >>"$ACTR_BENCH_OUT/results.jsonl"',
        "fake_fail": 'echo "it broke"; exit 1',
        "fake_skip": 'echo "SKIP: no peer here"; exit 77',
    }
    for name, body in progs.items():
        path = os.path.join(fake, "bench", name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
    res2 = os.path.join(tmp, "res2")
    env = dict(os.environ, ONLY="fake_ok fake_fail fake_skip",
               BENCH_NO_PERF="1", BENCH_RESULTS=res2,
               ACTR_BENCH_RUN_DIR=os.path.join(tmp, "run2"))
    p = subprocess.run(["sh", os.path.join(HERE, "run.sh"), fake],
                       capture_output=True, text=True, timeout=120, env=env)
    expect(p.returncode == 0, "run.sh runs", p.stdout + p.stderr)
    md = open(os.path.join(res2, "latest.md")).read()
    expect("| fake_ok | ok |" in md, "the good benchmark is ok", md)
    expect("| fake_fail | failed |" in md and "it broke" in md,
           "the failing benchmark says so and why", md)
    expect("| fake_skip | skipped |" in md and "no peer here" in md,
           "the skipped benchmark says so and why", md)
    doc = json.load(open(os.path.join(res2, "latest.json")))
    expect(abs(doc["ratios"]["g | actr / raw | p50_us"]["value"] - 2) < 1e-9,
           "run.sh's rows reach the ratios", json.dumps(doc["ratios"]))
    print("test_check: ok (bench/check.py, bench/report.py, bench/run.sh)")


if __name__ == "__main__":
    main()
