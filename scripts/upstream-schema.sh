#!/bin/sh
# Regenerate test/interop/upstream-schema.txt, the Rust actr system's wire
# schema as a table of facts (scripts/schema_table.py), from a checkout or
# a bare clone of github.com/Actrium/actr:
#
#   scripts/upstream-schema.sh /path/to/actr[.git] [COMMIT]
#
# The table (not the .proto text) is what the project keeps: message and
# field names, numbers, types, labels, oneofs, enum values. Re-run it when
# the project follows a newer Rust release, then fix proto/ until
# test/interop/schema.sh passes.
set -eu
[ $# -ge 1 ] || { echo "usage: upstream-schema.sh RUST_REPO [COMMIT]" >&2; exit 2; }
REPO=$1
REV=${2:-HEAD}
TOP=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
commit=$(git -C "$REPO" rev-parse "$REV")
files="actr.proto actr/options.proto package.proto signaling.proto webrtc.proto"
for f in $files; do
	mkdir -p "$TMP/$(dirname "$f")"
	git -C "$REPO" show "$commit:core/protocol/proto/$f" >"$TMP/$f"
done
(cd "$TMP" && protoc -I. -I/usr/include --include_imports \
	--descriptor_set_out="$TMP/set.pb" $files)
{
	echo "# The Rust actr system's wire schema (core/protocol/proto/ at"
	echo "# github.com/Actrium/actr commit $commit),"
	echo "# as printed by scripts/schema_table.py; regenerate with"
	echo "# scripts/upstream-schema.sh. Compared with proto/ by"
	echo "# test/interop/schema.sh."
	/usr/bin/python3 "$TOP/scripts/schema_table.py" "$TMP/set.pb"
} >"$TOP/test/interop/upstream-schema.txt"
echo "wrote test/interop/upstream-schema.txt ($commit)"
