#!/usr/bin/env python3
"""`make bench-check`: the regression guard of the benchmark suite.

    python3 bench/check.py [LATEST_JSON] [THRESHOLDS_JSON]
    python3 bench/check.py --update [LATEST_JSON] [THRESHOLDS_JSON]

Compares the RATIOS in bench/results/latest.json (actr against its
same-run baseline or a peer, see bench/report.py), never absolute times:
a loaded or slower machine moves both sides of a ratio alike.
bench/thresholds.json holds, per ratio key, the committed figure and the
direction that is better:

    {"max_regression": 0.20,
     "ratios": {"echo 64 B | actr / raw UDP | p50_us":
                {"value": 1.98, "better": "lower"}, ...}}

A ratio regresses when it is worse than the committed one by more than
max_regression (a key may carry its own; lower-is-better: latest > value * 1.2; higher-is-better:
latest < value / 1.2). A ratio missing from the latest run (benchmark
skipped or failed) is listed but does not fail the check; one that
regressed does (exit 1). --update rewrites the thresholds from the latest
run (after a deliberate change, committed with the reason).
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def compare(latest, thresholds):
    """Returns (regressions, missing, checked) lists of text lines."""
    dflt = float(thresholds.get("max_regression", 0.20))
    cur = latest.get("ratios", {})
    regressions, missing, checked = [], [], []
    for key, t in sorted(thresholds.get("ratios", {}).items()):
        ref = float(t["value"])
        limit = float(t.get("max_regression", dflt))
        better = t.get("better", "lower")
        if key not in cur:
            missing.append("%s: not in the latest run" % key)
            continue
        v = float(cur[key]["value"] if isinstance(cur[key], dict)
                  else cur[key])
        if better == "lower":
            worse = v / ref - 1 if ref > 0 else 0
        else:
            worse = ref / v - 1 if v > 0 else float("inf")
        text = "%s: %.3f (committed %.3f, %s is better, %+.0f%%)" % (
            key, v, ref, better, 100 * worse)
        if worse > limit:
            regressions.append(text)
        else:
            checked.append(text)
    return regressions, missing, checked


def update(latest, path, old):
    # p99 ratios are left out: on a shared machine one stall moves them
    # by more than 20% (they stay in latest.md)
    ratios = {k: {"value": v["value"], "better": v["better"]}
              for k, v in latest.get("ratios", {}).items()
              if not k.endswith("| p99_us")}
    doc = {"max_regression": old.get("max_regression", 0.20),
           "machine": latest.get("machine", {}),
           "ratios": ratios}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("bench-check: %d ratios written to %s" % (len(ratios), path))


def main(argv):
    upd = "--update" in argv
    args = [a for a in argv if a != "--update"]
    latest_p = args[0] if args else "bench/results/latest.json"
    thr_p = args[1] if len(args) > 1 else "bench/thresholds.json"
    try:
        latest = load(latest_p)
    except (OSError, ValueError) as e:
        print("bench-check: cannot read %s: %s (run `make bench` first)" %
              (latest_p, e))
        return 2
    if upd:
        try:
            old = load(thr_p)
        except (OSError, ValueError):
            old = {}
        update(latest, thr_p, old)
        return 0
    try:
        thr = load(thr_p)
    except (OSError, ValueError) as e:
        print("bench-check: cannot read %s: %s" % (thr_p, e))
        return 2
    regressions, missing, checked = compare(latest, thr)
    for line in checked:
        print("  ok        " + line)
    for line in missing:
        print("  missing   " + line)
    for line in regressions:
        print("  REGRESSED " + line)
    print("bench-check: %d ratios checked, %d regressed by more than "
          "%.0f%%, %d missing" % (len(checked) + len(regressions),
                                  len(regressions),
                                  100 * float(thr.get("max_regression",
                                                      0.20)),
                                  len(missing)))
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
