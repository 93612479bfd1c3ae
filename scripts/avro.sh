#!/usr/bin/env bash
# Apache Avro for Java, from Maven Central jars (no download from a project
# site): what a data team's Java reader computes and decodes, for tests.
#
#   scripts/avro.sh fingerprint FILE.avsc...   "FILE 0x<16 hex>" per schema (SchemaNormalization.parsingFingerprint64)
#   scripts/avro.sh decode FILE.avsc < HEX     each hex line a single-object message; prints each as JSON (BinaryMessageDecoder)
#
# Environment (optional): AVRO_VERSION (default 1.12.2), POSTBACKD_CACHE as
# for kafka.sh. A JRE 17+ and Maven are installed as kafka.sh installs them.
set -euo pipefail

avro_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kafka.sh
source "$avro_here/kafka.sh" # its functions and cache location; sourced, it runs nothing

AVRO_VERSION=${AVRO_VERSION:-1.12.2}
avro_libs=$cache/avro-$AVRO_VERSION/libs

resolve_avro() {
	[ -f "$avro_libs/.complete" ] && return 0
	mkdir -p "$(dirname "$avro_libs")"
	exec 8>"$avro_libs.lock"
	flock 8
	if [ ! -f "$avro_libs/.complete" ]; then
		local tmp="$avro_libs.tmp.$$"
		log "resolving org.apache.avro:avro:$AVRO_VERSION from Maven Central into $avro_libs"
		rm -rf "$tmp"
		if ! mvn -B -f "$avro_here/avro/pom.xml" -Davro.version="$AVRO_VERSION" \
			dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
			tail -n 40 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			die "mvn could not resolve org.apache.avro:avro:$AVRO_VERSION"
		fi
		ls "$tmp"/avro-"$AVRO_VERSION".jar >/dev/null || die "avro-$AVRO_VERSION.jar missing after mvn"
		rm -rf "$avro_libs" "$tmp.log"
		mv "$tmp" "$avro_libs"
		touch "$avro_libs/.complete"
	fi
	flock -u 8
	exec 8>&-
}

libs=$avro_libs ensure_tools
resolve_avro
exec java -cp "$avro_libs/*" "$avro_here/avro/AvroCheck.java" "$@"
