#!/usr/bin/env python3
"""Refresh README.md's "Performance" table from bench/results/latest.json:
the text between the markers

    <!-- bench-table:begin -->
    <!-- bench-table:end -->

is replaced with one compact table (per group: the first subject row, its
baseline, each peer, p50 / p99 / throughput and the ratios) and the
machine line. `make bench-readme` after `make bench`.

    python3 bench/readme_table.py [LATEST_JSON] [README]
"""
import json
import math
import sys

BEGIN = "<!-- bench-table:begin -->"
END = "<!-- bench-table:end -->"


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and \
        math.isfinite(v) and v > 0


def fmt(v, unit=""):
    if not num(v):
        return ""
    if v >= 1e6:
        s = "%.2f M" % (v / 1e6)
    elif v >= 100:
        s = "%.0f" % v
    elif v >= 10:
        s = "%.1f" % v
    elif v >= 1:
        s = "%.2f" % v
    else:
        s = "%.3f" % v
    return (s + " " + unit).strip()


def table(doc):
    m = doc.get("machine", {})
    out = ["Measured %s on %s (%s cores, %s), load average %s at start; "
           "commit %s. Full report: "
           "[bench/results/latest.md](bench/results/latest.md)." % (
               m.get("date", "?"), m.get("cpu", "?"), m.get("cores", "?"),
               m.get("kernel", "?"), m.get("load_start", "?"),
               m.get("commit", "?")), "",
           "| group | row | role | p50 us | p99 us | setup ms | "
           "throughput | vs baseline / actr vs peer |",
           "|---|---|---|---|---|---|---|---|"]
    groups = list(doc.get("groups", []))
    # the side-by-side groups first (those with peers), then as run
    groups.sort(key=lambda g: -any(r["role"] == "peer" for r in g["rows"]))
    for g in groups:
        rows = g["rows"]
        subj = [r for r in rows if r["role"] == "subject"]
        base = [r for r in rows if r["role"] == "baseline"]
        peers = [r for r in rows if r["role"] == "peer"]
        if not subj:
            continue
        s = subj[0]
        if not any(num(s.get(f)) for f in ("p50_us", "p99_us", "setup_ms",
                                           "throughput")):
            continue    # extras only: latest.md has them
        show = [s] + base[:1] + peers
        for r in show:
            if r is s:
                ref, other = s, base[0] if base else None
            else:   # a peer: the actr row of its own run, if there is one
                ref = next((x for x in subj if x["bench"] == r["bench"]), s)
                other = r
            ratio = []
            if r["role"] == "baseline":
                other = None    # the subject row carries the ratio
            for f, name in (("p50_us", "p50"), ("setup_ms", "setup"),
                            ("throughput", "tput")):
                if other and num(ref.get(f)) and num(other.get(f)):
                    ratio.append("%s %.2fx" % (name, ref[f] / other[f]))
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                g["group"] if r is s else "", r["row"], r["role"],
                fmt(r.get("p50_us")), fmt(r.get("p99_us")),
                fmt(r.get("setup_ms")),
                fmt(r.get("throughput"), r.get("unit", "")),
                ", ".join(ratio)))
    bad = [s for s in doc.get("status", []) if s.get("status") != "ok"]
    if bad:
        out.append("")
        out.append("Not measured in that run: " + "; ".join(
            "%s (%s: %s)" % (s.get("bench"), s.get("status"),
                             s.get("reason", "")) for s in bad) + ".")
    return "\n".join(out)


def main():
    latest = sys.argv[1] if len(sys.argv) > 1 else \
        "bench/results/latest.json"
    readme = sys.argv[2] if len(sys.argv) > 2 else "README.md"
    doc = json.load(open(latest))
    text = open(readme).read()
    if BEGIN not in text or END not in text:
        sys.exit("readme_table: %s has no %s ... %s block" %
                 (readme, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + table(doc) + "\n" + END + tail
    with open(readme, "w") as f:
        f.write(new)
    print("readme_table: %s refreshed from %s" % (readme, latest))


if __name__ == "__main__":
    main()
