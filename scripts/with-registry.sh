#!/usr/bin/env bash
# Runs CMD with a schema registry of its own (scripts/registry.sh, in a fresh
# temp state dir, stopped when CMD ends) and SCHEMA_REGISTRY_URL set, as
# with-kafka.sh does for the broker; with SCHEMA_REGISTRY_URL already set it
# runs CMD as it is.
#
#   scripts/with-registry.sh CMD [ARGS...]
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ -n "${SCHEMA_REGISTRY_URL:-}" ]; then
	echo "with-registry.sh: using SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL" >&2
	exec "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCHEMA_REGISTRY_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/postbackd-registry.XXXXXX")
export SCHEMA_REGISTRY_STATE_DIR

stop() { "$here/registry.sh" down || echo "with-registry.sh: stopping the registry failed" >&2; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

line=$("$here/registry.sh" up)
export "${line?}" # SCHEMA_REGISTRY_URL=http://...

rc=0
"$@" || rc=$?
exit "$rc"
