#!/usr/bin/env bash
# fastavro, from PyPI into a virtualenv of its own: what a data team's Python
# reader computes and decodes, for tests.
#
#   scripts/fastavro.sh fingerprint FILE.avsc...   "FILE 0x<16 hex>" per schema
#   scripts/fastavro.sh decode FILE.avsc < HEX     each hex line a single-object message; prints each as JSON
#
# Environment (optional): FASTAVRO_VERSION (default 1.13.1), POSTBACKD_CACHE
# as for kafka.sh. Needs python3 with venv.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FASTAVRO_VERSION=${FASTAVRO_VERSION:-1.13.1}
cache=${POSTBACKD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/postbackd}
venv=$cache/fastavro-$FASTAVRO_VERSION

if [ ! -f "$venv/.complete" ]; then
	mkdir -p "$cache"
	exec 8>"$venv.lock"
	flock 8
	if [ ! -f "$venv/.complete" ]; then
		command -v python3 >/dev/null || { echo "fastavro.sh: python3 missing" >&2; exit 1; }
		if ! python3 -c 'import venv, ensurepip' 2>/dev/null && command -v apt-get >/dev/null; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
		fi
		rm -rf "$venv"
		python3 -m venv "$venv" >&2
		"$venv/bin/pip" install -q "fastavro==$FASTAVRO_VERSION" >&2
		touch "$venv/.complete"
	fi
	flock -u 8
	exec 8>&-
fi
exec "$venv/bin/python" "$here/avro/fastavro_check.py" "$@"
