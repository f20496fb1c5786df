#!/usr/bin/env python3
"""libactr's exported symbols against its declared API and the recorded
baseline.

  scripts/check_abi.py LIBSO GEN_DIR [--update]

Declared API: every function marked ACTR_API in include/actr/*.h, plus
the generated protobuf-c code of the public actr package
(GEN_DIR/proto/actr.pb-c.h). Exported: `nm -D --defined-only LIBSO`.
Fails when the two differ (a public function missing from the library, or
an internal symbol leaking), or when the exported set differs from
scripts/libactr.symbols: a change of the ABI must be deliberate
(`make abi-baseline` rewrites the file; commit it with the change).
"""
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(TOP, "scripts", "libactr.symbols")
# added by the toolchain, not by the library
IGNORE = re.compile(r"^(ACTR_0|__odr_asan.*|__asan.*|__ubsan.*|_init|_fini)$")


def declared(gen):
    names = set()
    api = re.compile(r"^ACTR_API\b[^(]*?\b(actr_\w+)\s*\(")
    hdrs = os.path.join(TOP, "include", "actr")
    for f in sorted(os.listdir(hdrs)):
        if f.endswith(".h"):
            with open(os.path.join(hdrs, f), encoding="utf-8") as fh:
                for line in fh:
                    m = api.match(line)
                    if m:
                        names.add(m.group(1))
    fn = re.compile(r"^[A-Za-z][\w\s\*]*?\b(actr__\w+)\s*(\(|$)")
    var = re.compile(r"^extern\s+const\s+\w+\s+(actr__\w+)\s*;")
    alone = re.compile(r"^\s+(actr__\w+)\s*$")  # name under its type
    with open(os.path.join(gen, "proto", "actr.pb-c.h"),
              encoding="utf-8") as fh:
        for line in fh:
            m = fn.match(line) or var.match(line) or alone.match(line)
            if m:
                names.add(m.group(1))
    return names


def exported(libso):
    out = subprocess.run(["nm", "-D", "--defined-only", libso], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            name = parts[2].split("@")[0]
            if not IGNORE.match(name):
                names.add(name)
    return names


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    libso, gen = sys.argv[1], sys.argv[2]
    exp = exported(libso)
    if "--update" in sys.argv:
        with open(BASELINE, "w", encoding="utf-8") as fh:
            fh.write("".join(n + "\n" for n in sorted(exp)))
        print("abi: wrote %s (%d symbols)" % (BASELINE, len(exp)))
        return 0
    rc = 0
    dec = declared(gen)
    for n in sorted(dec - exp):
        print("abi: declared ACTR_API but not exported: %s" % n)
        rc = 1
    for n in sorted(exp - dec):
        print("abi: exported but not declared (an internal leaks, or "
              "ACTR_API is missing): %s" % n)
        rc = 1
    try:
        with open(BASELINE, encoding="utf-8") as fh:
            base = set(l.strip() for l in fh if l.strip())
    except FileNotFoundError:
        base = set()
    for n in sorted(base - exp):
        print("abi: removed from the ABI: %s" % n)
        rc = 1
    for n in sorted(exp - base):
        print("abi: added to the ABI: %s" % n)
        rc = 1
    if exp != base:
        print("abi: the exported symbols differ from scripts/libactr.symbols;"
              " if the change is deliberate, run `make abi-baseline` and "
              "commit the file with it")
    if rc == 0:
        print("abi: %d exported symbols = the declared API = the baseline" %
              len(exp))
    return rc


if __name__ == "__main__":
    sys.exit(main())
