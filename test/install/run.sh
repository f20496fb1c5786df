#!/bin/sh
# A new user's build: `make install` into a temporary prefix, then the
# echo demo and its own echo.proto (package echo, as a user would name
# theirs) compiled outside this tree with nothing but pkg-config and the
# installed stub generator (protoc-gen-actr), linked
# against the shared library and against the static one, and run.
#
#   sh test/install/run.sh BUILD_DIR
set -eu
B=${1:-build}
top=$(pwd)
tmp=$(mktemp -d /tmp/actr-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "install: FAIL: $*" >&2; exit 1; }

make --no-print-directory -s B="$B" install PREFIX="$tmp/prefix" \
	>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install"; }
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"

cflags=$(pkg-config --cflags libactr) || fail "pkg-config --cflags"
case " $cflags " in
*glib*|*nice*|*-DINET*|*libsoup*|*libxml*|*/actr/gen*)
	fail "--cflags leaks private include paths or defines: $cflags" ;;
esac
pkg-config --static --libs libactr >/dev/null || fail "pkg-config --static --libs"

# The user's project: its own copy of the demo and of echo.proto.
mkdir -p "$tmp/user"
cp examples/echo_actor/echo.proto "$tmp/user/"
sed 's,#include "examples/echo_actor/echo.actr.h",#include "echo.actr.h",' \
	examples/echo_actor/demo.c >"$tmp/user/demo.c"
cd "$tmp/user"
protoc-c --c_out=. echo.proto || fail "protoc-c"
protoc --plugin=protoc-gen-actr="$tmp/prefix/bin/protoc-gen-actr" \
	--actr_out=. echo.proto || fail "protoc-gen-actr"
CC=${CC:-cc}
$CC -std=c11 -Wall -Wextra -Werror -I. -o demo demo.c echo.pb-c.c $cflags \
	$(pkg-config --libs libactr) || fail "shared link"
$CC -std=c11 -Wall -Wextra -Werror -I. -o demo-static demo.c echo.pb-c.c \
	$cflags -L"$tmp/prefix/lib" -Wl,-Bstatic -lactr -Wl,-Bdynamic \
	$(pkg-config --static --libs-only-other libactr) \
	$(pkg-config --static --libs-only-l libactr | sed 's/-lactr//') \
	|| fail "static link"
for prog in demo demo-static; do
	LD_LIBRARY_PATH="$tmp/prefix/lib" timeout 30 ./$prog 3 >out.txt 2>&1 ||
		{ cat out.txt; fail "$prog exited $?"; }
	grep -q '"hello #3"' out.txt || { cat out.txt; fail "$prog: no third reply"; }
	grep -q '^3 calls' out.txt || { cat out.txt; fail "$prog: no summary"; }
done
# A method on the signal lane: (actr.payload_type) from the installed
# schema makes the stub bind it as RPC_SIGNAL, the other stays reliable.
cat >ticker.proto <<'PROTO'
syntax = "proto2";
package ticker;
import "actr.proto";
message Tick { optional uint64 n = 1; }
service Ticker {
  rpc Urgent(Tick) returns (Tick) { option (actr.payload_type) = RPC_SIGNAL; }
  rpc Normal(Tick) returns (Tick);
}
PROTO
protoc --plugin=protoc-gen-actr="$tmp/prefix/bin/protoc-gen-actr" \
	-I. -I"$tmp/prefix/share/actr/proto" -I/usr/include \
	--actr_out=. ticker.proto || fail "protoc-gen-actr ticker.proto"
grep -A3 'if (h->Urgent)' ticker.actr.h | grep -q RPC_SIGNAL ||
	fail "Urgent not bound as RPC_SIGNAL"
grep -A3 'if (h->Normal)' ticker.actr.h | grep -q RPC_RELIABLE ||
	fail "Normal not bound as RPC_RELIABLE"
# The static one must not need libactr.so.
if ldd ./demo-static | grep -q libactr; then fail "demo-static links libactr.so"; fi
cd "$top"
echo "install: PASS (shared and static demo built from pkg-config, cflags: $cflags)"
