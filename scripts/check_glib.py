#!/usr/bin/env python3
"""Fail when GLib appears outside ice/ and server/main.c
(docs/ARCHITECTURE.md, "core/: containers"). GLib's containers and
allocators abort on out of memory, against the -ENOMEM contract, so the
library and the server use core/list.h, core/map.h, core/strbuf.h and
libc instead. Only libnice needs GLib (ice/), and configuration files are
read with GKeyFile (server/main.c for actr-signal, runtime/config.c for
nodes: they may use the key file API and what frees its results, nothing
else).

Comments and string literals are ignored; every other GLib include,
g_ function or macro, G type and g-prefixed scalar type is reported,
one line each, and the exit status is 1.

  scripts/check_glib.py [ROOT]
"""
import os
import re
import sys

# Folders scanned (ice/ is libnice's home and is not).
DIRS = ["core", "proto", "mailbox", "net", "sctp", "wire", "runtime",
        "server", "include"]

# server/main.c and runtime/config.c may use GKeyFile and what its results
# need.
KEYFILE_OK = re.compile(
    r"^(g_key_file_\w+|GKeyFile|G_KEY_FILE_\w+|GError|g_error_free|"
    r"g_clear_error|g_free|g_strfreev|gchar|gboolean|guint64|gsize|"
    r"glib\.h)$")

GLIB = re.compile(
    r"\b(g_[a-z]\w*|G_[A-Z]\w*|G[A-Z][a-z]\w*|gboolean|gpointer|"
    r"gconstpointer|gchar|guchar|gint|guint|gint8|guint8|gint16|guint16|"
    r"gint32|guint32|gint64|guint64|gsize|gssize|gdouble|gfloat|glong|"
    r"gulong|gshort|gushort)\b")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](glib|gio|gobject)[^>"]*[>"]')

# Comments, then string and character literals (kept as blanks so line
# numbers hold).
TOKENS = re.compile(
    r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
    re.S)


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = 0
    files = 0
    for d in DIRS:
        top = os.path.join(root, d)
        for base, _, names in os.walk(top):
            for name in sorted(names):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(base, name)
                rel = os.path.relpath(path, root)
                keyfile = rel in (os.path.join("server", "main.c"),
                                  os.path.join("runtime", "config.c"))
                files += 1
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for n, line in enumerate(text.split("\n"), 1):
                    m = INCLUDE.match(line)
                    if m and not (keyfile and m.group(1) == "glib"):
                        print("%s:%d: GLib include: %s" %
                              (rel, n, line.strip()))
                        bad += 1
                code = TOKENS.sub(blank, text)
                for n, line in enumerate(code.split("\n"), 1):
                    if INCLUDE.match(line):
                        continue
                    for m in GLIB.finditer(line):
                        if keyfile and KEYFILE_OK.match(m.group(1)):
                            continue
                        print("%s:%d: GLib outside ice/: %s" %
                              (rel, n, m.group(1)))
                        bad += 1
    if bad:
        print("check_glib: %d GLib use(s) outside ice/ and server/main.c's "
              "GKeyFile (docs/ARCHITECTURE.md, core/: containers)" % bad)
        return 1
    print("check_glib: %d files, GLib only in ice/ and server/main.c's "
          "GKeyFile" % files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
