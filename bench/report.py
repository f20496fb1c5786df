#!/usr/bin/env python3
"""The report of `make bench`: bench/results/latest.md, latest.json and
the pictures (latency.png, throughput.png) from one run's directory.

    python3 bench/report.py RUN_DIR [RESULTS_DIR]

RUN_DIR is what bench/run.sh filled (ACTR_BENCH_OUT): results.jsonl
(the contract rows, bench/CONTRACT.md), samples/, status.jsonl (one line
per benchmark: ok, failed, timeout, skipped and why), machine.txt and
perf.jsonl (bench/perf.sh). One table per group; ratios are computed here,
never by the benchmarks, so every program is judged the same way.
"""
import json
import math
import os
import shutil
import subprocess
import sys

ROLE_ORDER = {"subject": 0, "baseline": 1, "peer": 2}


def load_jsonl(path, problems):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                problems.append("%s:%d: not JSON (%s)" %
                                (os.path.basename(path), i, e))
                continue
            out.append(obj)
    return out


def load_machine(path):
    m = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    m[k] = v
    return m


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and \
        math.isfinite(v) and v > 0


def group_rows(rows, problems):
    """Rows by group, groups in order of first appearance; a row missing
    a required field is reported, not dropped silently."""
    groups = {}
    for r in rows:
        miss = [k for k in ("bench", "group", "row", "role") if not r.get(k)]
        if miss:
            problems.append("row without %s: %s" %
                            (", ".join(miss), json.dumps(r)[:120]))
            continue
        if r["role"] not in ROLE_ORDER:
            problems.append("row with unknown role %r: %s/%s" %
                            (r["role"], r["bench"], r["row"]))
        groups.setdefault(r["group"], []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: ROLE_ORDER.get(r["role"], 3))
    return groups


def ratio(a, b):
    if num(a) and num(b):
        return a / b
    return None


def same_bench(rows, role, bench):
    """The first row of role from program bench, else the first of role:
    a peer script measures actr and the peer alternately, and its own
    actr row is the fair comparison."""
    c = [r for r in rows if r["role"] == role]
    for r in c:
        if r["bench"] == bench:
            return r
    return c[0] if c else None


def group_ratios(group, rows):
    """The ratios of one group, flat: key -> value, with the direction in
    which a change is a regression. Latency: subject / baseline (lower is
    better); throughput: subject / baseline (higher is better); against
    peers: the group's first subject / peer, same directions."""
    out = {}
    subj = [r for r in rows if r["role"] == "subject"]
    peers = [r for r in rows if r["role"] == "peer"]
    names = [r["row"] for r in rows]

    def nm(r):  # the program too when two rows share a name
        return r["row"] if names.count(r["row"]) == 1 else \
            "%s [%s]" % (r["row"], r["bench"])

    for s in subj:
        b = same_bench(rows, "baseline", s["bench"])
        if not b:
            break
        for field, better in (("p50_us", "lower"), ("p99_us", "lower"),
                              ("throughput", "higher")):
            v = ratio(s.get(field), b.get(field))
            if v is not None:
                out["%s | %s / %s | %s" % (group, nm(s), nm(b),
                                           field)] = (v, better)
    if subj:
        for p in peers:
            s = same_bench(rows, "subject", p["bench"])
            for field, better in (("p50_us", "lower"), ("p99_us", "lower"),
                                  ("setup_ms", "lower"),
                                  ("throughput", "higher")):
                v = ratio(s.get(field), p.get(field))
                if v is not None:
                    out["%s | %s / %s | %s" % (group, nm(s), nm(p),
                                               field)] = (v, better)
    return out


def fmt(v, digits=None):
    if not num(v):
        return ""
    if digits is not None:
        return "%.*f" % (digits, v)
    if v >= 1e6:
        return "%.3g M" % (v / 1e6) if v < 1e9 else "%.3g G" % (v / 1e9)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def fmt_n(n):
    if not num(n):
        return "?"
    if n >= 1e6:
        return "%.1f M" % (n / 1e6)
    return "%d" % n


def fmt_ratio(v):
    return "" if v is None else "%.2fx" % v


EXTRA_SKIP = {"bench", "group", "row", "role", "p50_us", "p99_us",
              "mean_us", "setup_ms", "throughput", "unit", "n", "rounds",
              "samples", "note"}


def group_table(group, rows):
    subj = [r for r in rows if r["role"] == "subject"]
    base = [r for r in rows if r["role"] == "baseline"]
    ref = subj[0] if subj else None
    b = base[0] if base else None
    cols = [("p50 us", "p50_us"), ("p99 us", "p99_us"),
            ("mean us", "mean_us"), ("setup ms", "setup_ms")]
    cols = [c for c in cols if any(num(r.get(c[1])) for r in rows)]
    has_tp = any(num(r.get("throughput")) for r in rows)
    extras = []
    for r in rows:
        for k, v in r.items():
            if k not in EXTRA_SKIP and (num(v) or v == 0) and \
                    not isinstance(v, bool) and k not in extras:
                extras.append(k)
    head = ["row", "role"] + [c[0] for c in cols]
    if has_tp:
        head.append("throughput")
    head += extras
    lat_field = "p50_us" if any(num(r.get("p50_us")) for r in rows) else (
        "setup_ms" if any(num(r.get("setup_ms")) for r in rows) else None)
    lat_name = {"p50_us": "p50", "setup_ms": "setup"}.get(lat_field)
    if lat_field:
        head.append("%s ratio (lower: better)" % lat_name)
    if has_tp:
        head.append("throughput ratio (higher: better)")
    head.append("n x rounds")
    head.append("note")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * len(head)) + "|"]
    multi = len({r["bench"] for r in rows}) > 1
    for r in rows:
        cells = [r["row"] + (" [%s]" % r["bench"] if multi else ""),
                 r["role"]]
        cells += [fmt(r.get(c[1])) for c in cols]
        if has_tp:
            t = r.get("throughput")
            cells.append("%s %s" % (fmt(t), r.get("unit", "")) if num(t)
                         else "")
        cells += ["0" if r.get(k) == 0 else fmt(r.get(k)) for k in extras]
        # subject rows: against the baseline; baseline and peer rows: the
        # group's first subject against them ("actr / this")
        if r["role"] == "subject":
            other = same_bench(rows, "baseline", r["bench"]) or b
            mine = r
        else:
            other, mine = r, same_bench(rows, "subject", r["bench"]) or ref
        if lat_field:
            v = ratio(mine.get(lat_field), other.get(lat_field)) \
                if mine and other and mine is not other else None
            if v is not None:
                cells.append("%s (%s / %s)" % (
                    fmt_ratio(v), mine["row"], other["row"]))
            else:
                cells.append("")
        if has_tp:
            v = ratio(mine.get("throughput"), other.get("throughput")) \
                if mine and other and mine is not other else None
            if v is not None:
                cells.append("%s (%s / %s)" % (
                    fmt_ratio(v), mine["row"], other["row"]))
            else:
                cells.append("")
        n, k = r.get("n"), r.get("rounds")
        cells.append("%s x %s" % (fmt_n(n), k or "?") if n or k else "")
        cells.append(str(r.get("note", "")).replace("|", "/"))
        lines.append("| " + " | ".join(c.replace("|", "/")
                                       for c in cells) + " |")
    benches = sorted({r["bench"] for r in rows})
    return "### %s\n\nFrom: %s.\n\n%s\n" % (group, ", ".join(benches),
                                           "\n".join(lines))


# ---- pictures ---------------------------------------------------------------

def read_samples(path):
    vals = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        v = float(line)
                    except ValueError:
                        continue
                    if v > 0 and math.isfinite(v):
                        vals.append(v)
    except OSError:
        return []
    vals.sort()
    return vals


def cdf_points(vals, max_points=600):
    """(value, fraction) pairs: even steps in the body, every point of
    the last percent (the tail is what a CDF is looked at for)."""
    n = len(vals)
    if n <= max_points:
        idx = range(n)
    else:
        step = max(1, int(n * 0.99) // (max_points // 2))
        idx = sorted(set(list(range(0, int(n * 0.99), step)) +
                         list(range(int(n * 0.99), n,
                                    max(1, (n - int(n * 0.99)) //
                                        (max_points // 2))))
                         + [n - 1]))
    return [(vals[i], (i + 1) / n) for i in idx]


# which sample series go in latency.png, in order: (bench, group prefix)
LAT_PANELS = [
    ("in-process and one machine, no network stack", [
        ("reactor_pingpong", "ping-pong udp"),
        ("inproc_call", "call"),
    ]),
    ("over the network stack (loopback, two processes)", [
        ("datachannel", "echo 64 B"),
        ("remote_call", "actor call 64 B"),
        (None, "dc echo 64 B"),       # bench/peers: libdatachannel, ...
        (None, "actor RPC echo"),     # bench/peers/rust.sh
        (None, "echo 64 B"),
    ]),
]


def gp_quote(s):
    return '"%s"' % s.replace('"', "'").replace("\\", "/")


def latency_png(rows, run_dir, res_dir, notes):
    if not shutil.which("gnuplot"):
        notes.append("latency.png not drawn: gnuplot is not installed "
                     "(sh scripts/deps.sh bench)")
        return None
    data_dir = os.path.join(run_dir, "cdf")
    os.makedirs(data_dir, exist_ok=True)
    panels = []
    used = set()
    for title, picks in LAT_PANELS:
        series = []
        for bench, gprefix in picks:
            for r in rows:
                key = (r.get("bench"), r.get("group"), r.get("row"))
                if key in used or not r.get("samples"):
                    continue
                if bench and r.get("bench") != bench:
                    continue
                if not str(r.get("group", "")).startswith(gprefix):
                    continue
                vals = read_samples(os.path.join(run_dir, r["samples"]))
                if not vals:
                    notes.append("samples of %s / %s missing or empty" %
                                 (r["group"], r["row"]))
                    continue
                used.add(key)
                fn = os.path.join(data_dir, "s%d.dat" % len(used))
                with open(fn, "w") as f:
                    for v, p in cdf_points(vals):
                        f.write("%.4f %.6f\n" % (v, p))
                label = "%s: %s" % (r["group"], r["row"])
                if any(label == x[1] for x in series):
                    continue    # the same row from a second peer script
                series.append((fn, label, r["role"]))
        if series:
            panels.append((title, series))
    if not panels:
        notes.append("latency.png not drawn: no benchmark wrote samples")
        return None
    out = os.path.join(res_dir, "latency.png")
    w = 760 * len(panels)
    gp = ["set terminal pngcairo size %d,620 font 'sans,10'" % w
          if gp_has_cairo() else
          "set terminal png size %d,620 font 'sans,10'" % w,
          "set termoption noenhanced",
          "set output %s" % gp_quote(out),
          "set multiplot layout 1,%d title 'latency CDFs (one round of "
          "each benchmark)'" % len(panels),
          "set logscale x", "set grid xtics mxtics ytics",
          "set xlabel 'latency, microseconds (log scale)'",
          "set ylabel 'fraction of operations <= x'",
          "set yrange [0:1.02]", "set key bottom right font ',9'"]
    for title, series in panels:
        gp.append("set title %s" % gp_quote(title))
        plots = []
        for i, (fn, label, role) in enumerate(series):
            dt = "dt 2" if role == "baseline" else (
                "dt 4" if role == "peer" else "dt 1")
            plots.append("%s using 1:2 with lines lw 2 %s lc %d title %s" %
                         (gp_quote(fn), dt, i + 1,
                          gp_quote(label)))
        gp.append("plot " + ", \\\n     ".join(plots))
    gp.append("unset multiplot")
    return run_gnuplot(gp, run_dir, "latency", notes, out)


def gp_has_cairo():
    try:
        p = subprocess.run(["gnuplot", "-e", "set terminal"],
                           capture_output=True, text=True, timeout=20)
        return "pngcairo" in (p.stdout + p.stderr)
    except (OSError, subprocess.SubprocessError):
        return False


def run_gnuplot(lines, run_dir, name, notes, out):
    script = os.path.join(run_dir, name + ".gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        p = subprocess.run(["gnuplot", script], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        notes.append("%s.png: gnuplot failed: %s" % (name, e))
        return None
    if p.returncode != 0:
        notes.append("%s.png: gnuplot failed: %s" %
                     (name, p.stderr.strip()[-300:]))
        return None
    return out


def throughput_png(groups, run_dir, res_dir, notes):
    if not shutil.which("gnuplot"):
        notes.append("throughput.png not drawn: gnuplot is not installed")
        return None
    panels = []
    for g, rows in groups.items():
        tp = [r for r in rows if num(r.get("throughput"))]
        if len(tp) < 2:
            continue
        units = {r.get("unit", "") for r in tp}
        if len(units) != 1:
            tp = [r for r in tp if r.get("unit", "") == tp[0].get("unit")]
        vals = [r["throughput"] for r in tp]
        if len(tp) > 2 and max(vals) < 1.03 * min(vals):
            continue    # an offered rate met by all: nothing to see
        panels.append((g, tp))
    # groups with peers first: they are the point of the picture
    panels.sort(key=lambda p: -sum(r["role"] == "peer" for r in p[1]))
    panels = panels[:12]
    if not panels:
        notes.append("throughput.png not drawn: no group has two "
                     "throughput rows")
        return None
    data_dir = os.path.join(run_dir, "bars")
    os.makedirs(data_dir, exist_ok=True)
    cols = 3 if len(panels) > 4 else len(panels)
    nrows = (len(panels) + cols - 1) // cols
    out = os.path.join(res_dir, "throughput.png")
    term = "pngcairo" if gp_has_cairo() else "png"
    gp = ["set terminal %s size %d,%d font 'sans,9'" %
          (term, 520 * cols, 360 * nrows),
          "set termoption noenhanced",
          "set output '%s'" % out,
          "set multiplot layout %d,%d title 'throughput (same run; "
          "blue: actr, grey: raw baseline, orange: peers)'" % (nrows, cols),
          "set style fill solid 0.8 border -1", "set boxwidth 0.6",
          "set grid ytics", "set yrange [0:*]", "unset key",
          "set offsets 0, 0, graph 0.08, 0", "set format y '%.1s%c'",
          "set xtics rotate by -25 font ',8' nomirror"]
    colors = {"subject": "#1f5fbf", "baseline": "#999999",
              "peer": "#e08020"}
    for i, (g, tp) in enumerate(panels):
        fn = os.path.join(data_dir, "b%d.dat" % i)
        multi = len({r["bench"] for r in tp}) > 1
        with open(fn, "w") as f:
            for j, r in enumerate(tp):
                label = r["row"]
                if multi:
                    label += " (%s)" % r["bench"].replace("peers-", "")
                f.write('%d "%s" %.6g 0x%s\n' % (
                    j, label.replace('"', "'"), r["throughput"],
                    colors.get(r["role"], "#333333")[1:]))
        unit = tp[0].get("unit", "")
        gp.append("set title %s" % gp_quote(g))
        gp.append("set ylabel %s" % gp_quote(unit))
        gp.append("set xrange [-0.6:%f]" % (len(tp) - 0.4))
        gp.append("plot '%s' using 1:3:4:xtic(2) with boxes lc rgb "
                  "variable" % fn)
    gp.append("unset multiplot")
    return run_gnuplot(gp, run_dir, "throughput", notes, out)


# callgrind counts (bench/perf.sh) compared as subject / baseline: the
# instruction ratio does not depend on load, the steadiest figure to guard
PERF_PAIRS = [
    ("in-process call (poll)", "in-process call: ring baseline"),
    ("reactor ping-pong udp: actr", "reactor ping-pong udp: raw epoll"),
    ("mailbox 256 B closed loop: normal+first",
     "mailbox 256 B closed loop: in-memory ring"),
]


def perf_ratios(perf):
    out = {}
    cg = {p.get("what"): p for p in perf if p.get("tool") == "callgrind"}
    for subj, base in PERF_PAIRS:
        if subj in cg and base in cg:
            v = ratio(cg[subj].get("instructions_per_op"),
                      cg[base].get("instructions_per_op"))
            if v is not None:
                out["callgrind | %s / %s | instructions" % (subj, base)] = \
                    (v, "lower")
    return out


# ---- the report -------------------------------------------------------------

def main():
    if len(sys.argv) < 2:
        sys.exit("usage: report.py RUN_DIR [RESULTS_DIR]")
    run_dir = sys.argv[1]
    res_dir = sys.argv[2] if len(sys.argv) > 2 else "bench/results"
    os.makedirs(res_dir, exist_ok=True)
    problems, notes = [], []
    rows = load_jsonl(os.path.join(run_dir, "results.jsonl"), problems)
    status = load_jsonl(os.path.join(run_dir, "status.jsonl"), problems)
    perf = load_jsonl(os.path.join(run_dir, "perf.jsonl"), problems)
    machine = load_machine(os.path.join(run_dir, "machine.txt"))
    groups = group_rows(rows, problems)
    ratios = {}
    for g, rs in groups.items():
        ratios.update(group_ratios(g, rs))
    ratios.update(perf_ratios(perf))

    lat = latency_png(rows, run_dir, res_dir, notes)
    tput = throughput_png(groups, run_dir, res_dir, notes)

    md = ["# Benchmark results (`make bench`)", ""]
    md.append("Generated by bench/report.py from one run of bench/run.sh; "
              "do not edit by hand.")
    md.append("")
    md.append("| machine | |")
    md.append("|---|---|")
    for k, label in (("date", "date"), ("commit", "git commit"),
                     ("cpu", "CPU"), ("cores", "cores"),
                     ("kernel", "kernel"),
                     ("load_start", "load average at start"),
                     ("load_end", "load average at end"),
                     ("suite_seconds", "suite wall time, s")):
        md.append("| %s | %s |" % (label, machine.get(k, "?")))
    md.append("")
    md.append("Figures are medians over the rounds shown (n operations "
              "x rounds). Ratios: a subject row (this project) against "
              "the group's same-run baseline; a baseline or peer row: "
              "the group's first subject row against it. Latency ratio "
              "< 1 and throughput ratio > 1 mean actr is better.")
    md.append("")
    md.append("## Benchmarks run")
    md.append("")
    md.append("| benchmark | status | seconds | detail |")
    md.append("|---|---|---|---|")
    for s in status:
        md.append("| %s | %s | %s | %s |" % (
            s.get("bench"), s.get("status"), s.get("seconds", ""),
            str(s.get("reason", "")).replace("|", "/")[:200]))
    if not status:
        md.append("| (none) | | | bench/run.sh wrote no status |")
    md.append("")
    md.append("## Results by group")
    md.append("")
    for g, rs in groups.items():
        md.append(group_table(g, rs))
    if not groups:
        md.append("No benchmark wrote a result row.")
        md.append("")
    md.append("## Pictures")
    md.append("")
    if lat:
        md.append("![latency CDFs](latency.png)")
        md.append("")
    if tput:
        md.append("![throughput](throughput.png)")
        md.append("")
    md.append("## Cost per operation (perf stat, callgrind)")
    md.append("")
    if perf:
        md.append("| what | tool | per operation | detail |")
        md.append("|---|---|---|---|")
        for p in perf:
            if p.get("status") and p.get("status") != "ok":
                md.append("| %s | %s | %s | %s |" % (
                    p.get("what", ""), p.get("tool", ""), p["status"],
                    p.get("reason", "")))
                continue
            per = []
            for k in ("instructions_per_op", "task_clock_ns_per_op",
                      "ctx_switches_per_op", "cycles_per_op"):
                if num(p.get(k)):
                    per.append("%s %s" % (fmt(p[k]),
                                          k.replace("_per_op", "")))
            md.append("| %s | %s | %s | %s |" % (
                p.get("what", ""), p.get("tool", ""), ", ".join(per),
                p.get("detail", "")))
        md.append("")
        for k, (v, _) in sorted(perf_ratios(perf).items()):
            md.append("- %s: %.2fx" % (k, v))
    else:
        md.append("Not run (BENCH_NO_PERF, or bench/perf.sh wrote nothing).")
    md.append("")
    if problems or notes:
        md.append("## Problems")
        md.append("")
        for p in problems + notes:
            md.append("- " + p)
        md.append("")

    with open(os.path.join(res_dir, "latest.md"), "w") as f:
        f.write("\n".join(md))
    doc = {
        "machine": machine,
        "status": status,
        "groups": [{"group": g, "rows": rs} for g, rs in groups.items()],
        "ratios": {k: {"value": round(v, 4), "better": b}
                   for k, (v, b) in sorted(ratios.items())},
        "perf": perf,
        "problems": problems + notes,
    }
    with open(os.path.join(res_dir, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print("report: %s/latest.md, latest.json%s%s (%d groups, %d rows, "
          "%d problems)" % (res_dir, ", latency.png" if lat else "",
                            ", throughput.png" if tput else "",
                            len(groups), len(rows),
                            len(problems) + len(notes)))


if __name__ == "__main__":
    main()
