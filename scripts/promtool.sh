#!/usr/bin/env bash
# promtool (Prometheus's rule checker) for the alerting rules' tests, from
# Debian's prometheus package when it is not on PATH already.
#
#   scripts/promtool.sh check rules docs/monitoring/alerts.yml
#   scripts/promtool.sh test rules docs/monitoring/alerts_test.yml
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kafka.sh
source "$here/kafka.sh" # apt_update, apt_install, die; sourced, it runs nothing
log() { echo "promtool.sh: $*" >&2; }

if ! command -v promtool >/dev/null; then
	exec 8>"${TMPDIR:-/tmp}/postbackd-promtool.lock"
	flock 8
	if ! command -v promtool >/dev/null; then
		apt_update
		# The package's service is not started here: only its promtool is used.
		apt_install prometheus
	fi
	flock -u 8
	exec 8>&-
fi
command -v promtool >/dev/null || die "promtool still missing after installing prometheus"
exec promtool "$@"
