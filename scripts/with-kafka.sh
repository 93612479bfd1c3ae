#!/usr/bin/env bash
# with-kafka.sh CMD [ARGS...] runs CMD with KAFKA_BROKERS exported.
#
# When KAFKA_BROKERS is already set, CMD runs against that broker. Otherwise
# a private broker is started in a fresh state dir (so concurrent runs in one
# work tree do not share or stop each other's broker) and is stopped when
# CMD ends: on success, on failure, on ^C and on SIGTERM alike.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ -n "${KAFKA_BROKERS:-}" ]; then
	echo "with-kafka.sh: using KAFKA_BROKERS=$KAFKA_BROKERS" >&2
	exec "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/postbackd-kafka.XXXXXX")
export KAFKA_STATE_DIR

stop() { "$here/kafka.sh" down || echo "with-kafka.sh: stopping the broker failed" >&2; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

line=$("$here/kafka.sh" up)
export "${line?}" # KAFKA_BROKERS=host:port

rc=0
"$@" || rc=$?
exit "$rc"
