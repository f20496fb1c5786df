#!/usr/bin/env python3
"""Fail when a library layer includes a layer above it (docs/ARCHITECTURE.md,
"Layers"). Every #include of a project header in core/ proto/ mailbox/ net/
ice/ sctp/ wire/ runtime/ server/ is mapped to the layer it belongs to: a
quoted "dir/x.h" (or a bare "x.h" next to the includer) to its folder, a
public <actr/x.h> to the folder that implements it. Exit 1 with one line
per offending include.

  scripts/check_layers.py [ROOT]
"""
import os
import re
import sys

# What each layer may include (itself included). The order is the
# layer diagram, bottom up.
ALLOWED = {
    "core": {"core"},
    "proto": {"core", "proto"},
    "mailbox": {"core", "mailbox"},
    "net": {"core", "net"},
    "ice": {"core", "ice"},
    "sctp": {"core", "sctp"},
    "wire": {"core", "proto", "net", "ice", "sctp", "wire"},
    "runtime": {"core", "proto", "mailbox", "net", "wire", "runtime"},
    "server": {"core", "proto", "net", "runtime", "server"},
}

# Public headers: the layer that implements them. actr.h pulls in every
# layer: only applications (examples, tests, benchmarks) include it.
PUBLIC = {
    "buf.h": "core", "error.h": "core", "log.h": "core",
    "reactor.h": "core", "util.h": "core",
    "proto.h": "proto",
    "mailbox.h": "mailbox", "kv.h": "mailbox",
    "stream.h": "runtime",
    "media.h": "runtime",
    "net.h": "net",
    "sigclient.h": "wire",
    "runtime.h": "runtime", "peer.h": "runtime", "config.h": "runtime",
    "metrics.h": "runtime",
    "actr.h": "application",
}

INC = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(inc, quote, here):
    if quote == "<":
        if inc.startswith("actr/gen/"):
            return "proto"
        if inc.startswith("actr/"):
            return PUBLIC.get(inc[5:], "unknown public header " + inc)
        return None                     # system / library header
    if "/" not in inc:
        return here                     # "x.h" next to the includer
    top = inc.split("/", 1)[0]
    if top in ALLOWED:
        return top
    if top == "proto" or inc.endswith(".pb-c.h"):
        return "proto"
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = 0
    checked = 0
    for layer in ALLOWED:
        d = os.path.join(root, layer)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INC.match(line)
                    if not m:
                        continue
                    to = layer_of(m.group(2), m.group(1), layer)
                    if to is None:
                        continue
                    checked += 1
                    if to not in ALLOWED[layer]:
                        print("%s:%d: %s (layer %s) includes %s (%s)" %
                              (path, n, layer, layer, m.group(2), to))
                        bad += 1
    if bad:
        print("check_layers: %d include(s) against the layer diagram "
              "(docs/ARCHITECTURE.md)" % bad)
        return 1
    print("check_layers: %d includes follow the layer diagram" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
