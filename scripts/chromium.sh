#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the console's browser
# test, installing Debian's chromium package first when none is on PATH.
#
#   CHROME_BIN=$(scripts/chromium.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kafka.sh
source "$here/kafka.sh" # apt_update, apt_install, die; sourced, it runs nothing

find_chromium() {
	local c
	for c in chromium chromium-browser google-chrome-stable google-chrome; do
		if command -v "$c" >/dev/null; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

if ! find_chromium >/dev/null; then
	exec 8>"${TMPDIR:-/tmp}/postbackd-chromium.lock"
	flock 8
	if ! find_chromium >/dev/null; then
		apt_update
		# fonts so that a screenshot shows text; --no-install-recommends
		# leaves out the rest of a desktop.
		apt_install chromium fonts-dejavu-core
	fi
	flock -u 8
	exec 8>&-
fi
find_chromium || die "chromium still missing after installing it"
