#!/usr/bin/env python3
"""Fail when library code spells a meaning with an errno value that
include/actr/error.h gives an ACTR_E* code (one code per meaning):
-ETIMEDOUT (-ACTR_ETIMEDOUT), -ENOENT (-ACTR_ENOTFOUND), -EPROTO and
-EBADMSG (-ACTR_EPROTO), -EMSGSIZE, -E2BIG and -ENAMETOOLONG
(-ACTR_ETOOBIG), -ECANCELED (-ACTR_ECANCELED), -EPERM (-ACTR_EPERM),
-ESHUTDOWN (-ACTR_ECLOSED). Tests comparing errno from a syscall (errno ==
ETIMEDOUT) are not affected: only a negated constant is. A line that maps
an operating system's error on purpose says so with "errno: OS" in a
comment. Exit 1 with one line per offence.

  scripts/check_errors.py [ROOT]
"""
import os
import re
import sys

DIRS = ["core", "proto", "mailbox", "net", "ice", "sctp", "wire", "runtime",
        "server", "include"]
BANNED = {
    "ETIMEDOUT": "ACTR_ETIMEDOUT", "ENOENT": "ACTR_ENOTFOUND",
    "EPROTO": "ACTR_EPROTO", "EBADMSG": "ACTR_EPROTO",
    "EMSGSIZE": "ACTR_ETOOBIG", "E2BIG": "ACTR_ETOOBIG",
    "ENAMETOOLONG": "ACTR_ETOOBIG", "ECANCELED": "ACTR_ECANCELED",
    "EPERM": "ACTR_EPERM", "ESHUTDOWN": "ACTR_ECLOSED",
}
PAT = re.compile(r"-\s*(E[A-Z0-9]+)\b")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = 0
    for d in DIRS:
        for dp, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                p = os.path.join(dp, f)
                with open(p, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        if "errno: OS" in line:
                            continue
                        for m in PAT.finditer(line):
                            if m.group(1) in BANNED:
                                print(f"{os.path.relpath(p, root)}:{n}: "
                                      f"-{m.group(1)}: use "
                                      f"-{BANNED[m.group(1)]} "
                                      "(include/actr/error.h)")
                                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
