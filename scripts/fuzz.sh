#!/usr/bin/env bash
# fuzz.sh runs each fuzz target for FUZZTIME (default 10s), one after the
# other, and stops at the first failure (go test saves the failing input
# under the package's testdata/fuzz/ for the unit tests to replay).
#
# Targets come from FUZZ_TARGETS, a space-separated list of PKG:FuzzName
# (e.g. "./schemas:FuzzDecodeInput"), or when it is empty from every
# `func FuzzXxx(f *testing.F)` in the tree's _test.go files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
fuzztime=${FUZZTIME:-10s}
targets=${FUZZ_TARGETS:-}
if [ -z "$targets" ]; then
	targets=$(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
		sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1:\2#' | sort -u | tr '\n' ' ')
fi
if [ -z "${targets// /}" ]; then
	echo "fuzz.sh: no fuzz targets (set FUZZ_TARGETS or add func FuzzXxx to a _test.go)"
	exit 0
fi
for t in $targets; do
	pkg=${t%%:*} name=${t##*:}
	echo "== fuzz $pkg $name for $fuzztime"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
