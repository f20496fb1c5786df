#!/bin/sh
# Install npm packages for the interop tests and benchmarks into a private
# folder (never the project's tree): npm-fetch.sh DIR SPEC...
#
#   test/interop/npm-fetch.sh build/npm node-datachannel@0.33.4
#
# Idempotent: a package already at the wanted version is not fetched
# again. The only network used is the npm registry. The Rust runtime's
# Node.js build (@actrium/actr-linux-x64-gnu) is also copied to
# DIR/actr.node with its GLIBC_2.39 requirement made weak (see
# elf_weaken.mjs), so Debian 12's glibc loads it.
#
# Exit status: 0 installed; 3 npm or the registry unavailable (the reason
# on stderr, one line starting "SKIP:"); 1 anything else.
set -eu
[ $# -ge 2 ] || { echo "usage: npm-fetch.sh DIR SPEC..." >&2; exit 2; }
DIR=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
	echo "SKIP: node and npm are not installed (Node.js >= 18 needed)" >&2
	exit 3
}
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"private": true}' >"$DIR/package.json"

have() { # have NAME VERSION: installed at that version?
	node -e 'const p=require(process.argv[1]); process.exit(p.version===process.argv[2]?0:1)' \
		"$(cd "$DIR" && pwd)/node_modules/$1/package.json" "$2" 2>/dev/null
}

need=""
for spec in "$@"; do
	name=${spec%@*}
	ver=${spec##*@}
	have "$name" "$ver" || need="$need $spec"
done
if [ -n "$need" ]; then
	# shellcheck disable=SC2086
	if ! (cd "$DIR" && timeout 300 npm install --no-audit --no-fund \
		--save --loglevel=error $need) >"$DIR/npm.log" 2>&1; then
		if grep -qiE 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network' \
			"$DIR/npm.log"; then
			echo "SKIP: the npm registry is unreachable ($(grep -m1 -iE 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network' "$DIR/npm.log"))" >&2
			exit 3
		fi
		echo "npm install$need failed:" >&2
		tail -20 "$DIR/npm.log" >&2
		exit 1
	fi
fi
for spec in "$@"; do
	name=${spec%@*}
	ver=${spec##*@}
	have "$name" "$ver" || { echo "$name@$ver missing after npm install" >&2; exit 1; }
	case $name in
	@actrium/actr-linux-x64-gnu)
		src="$DIR/node_modules/$name/actr.linux-x64-gnu.node"
		if [ ! -f "$DIR/actr.node" ] || [ "$src" -nt "$DIR/actr.node" ]; then
			cp "$src" "$DIR/actr.node.tmp"
			node "$HERE/elf_weaken.mjs" "$DIR/actr.node.tmp" GLIBC_2.39 >/dev/null
			mv "$DIR/actr.node.tmp" "$DIR/actr.node"
		fi
		;;
	esac
done
