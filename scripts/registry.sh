#!/usr/bin/env bash
# A Confluent-compatible schema registry for tests: Apicurio Registry, built
# from Maven Central jars (no container, no tarball), in-memory storage.
#
#   scripts/registry.sh up       start one (or reuse a running one); prints SCHEMA_REGISTRY_URL=http://127.0.0.1:PORT/apis/ccompat/v7
#   scripts/registry.sh down     stop it (TERM, then KILL after SCHEMA_REGISTRY_STOP_TIMEOUT) and remove its state
#   scripts/registry.sh status   says whether it runs; exit 0 if so, 3 if not
#   scripts/registry.sh env      prints SCHEMA_REGISTRY_URL=... of the running registry
#
# Usage from a shell:  export $(scripts/registry.sh up); go test -tags integration ./...
#
# SCHEMA_REGISTRY_URL is the base URL a Confluent client takes (Apicurio serves
# the Confluent API under /apis/ccompat/v7): POST $SCHEMA_REGISTRY_URL/subjects/S/versions,
# GET $SCHEMA_REGISTRY_URL/schemas/ids/ID, ... Schemas live in memory: they
# are gone after `down`. It needs no Kafka broker.
#
# Environment (all optional):
#   APICURIO_VERSION               io.apicurio:apicurio-registry-app version (default 2.4.2.Final:
#                                  the newest whose modules Maven Central serves here; see registry/pom.xml)
#   POSTBACKD_CACHE                where the built registry is kept (as for kafka.sh)
#   SCHEMA_REGISTRY_STATE_DIR      pid, URL and logs of one registry (default <repo>/.cache/registry)
#   SCHEMA_REGISTRY_PORT           HTTP port (default 8081 when free, else any free port)
#   SCHEMA_REGISTRY_COMPATIBILITY  global compatibility rule (default BACKWARD, Confluent's default;
#                                  NONE for Apicurio's); a subject's own rule is set with PUT /config/SUBJECT
#   SCHEMA_REGISTRY_HEAP_OPTS      default -Xms64m -Xmx256m
#   SCHEMA_REGISTRY_START_TIMEOUT  seconds to wait for it to answer (default 60)
#   SCHEMA_REGISTRY_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 30: the
#                                  first registry of a cache dumps its class-data-sharing archive at exit)
#   SCHEMA_REGISTRY_NO_CDS         set to skip making that archive
set -euo pipefail

reg_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kafka.sh
source "$reg_here/kafka.sh" # ensure_tools, port helpers, $cache, $repo; sourced, it runs nothing

log() { echo "registry.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

APICURIO_VERSION=${APICURIO_VERSION:-2.4.2.Final}
reg_app=$cache/apicurio-registry-$APICURIO_VERSION
reg_state=${SCHEMA_REGISTRY_STATE_DIR:-$repo/.cache/registry}
reg_start_timeout=${SCHEMA_REGISTRY_START_TIMEOUT:-60}
reg_stop_timeout=${SCHEMA_REGISTRY_STOP_TIMEOUT:-30}
reg_path=/apis/ccompat/v7
reg_jar=$reg_app/apicurio-registry-runner-1-runner.jar

# --- build -----------------------------------------------------------------

# build_registry runs the Quarkus build of registry/pom.xml once into
# $reg_app (a runner jar and its lib/); .complete marks a finished build and
# a lock keeps concurrent first runs apart, as resolve_maven does.
build_registry() {
	[ -f "$reg_app/.complete" ] && return 0
	mkdir -p "$cache"
	exec 9>"$reg_app.lock"
	flock 9
	if [ ! -f "$reg_app/.complete" ]; then
		local t0=$SECONDS tmp="$reg_app.tmp.$$"
		log "building Apicurio Registry $APICURIO_VERSION from Maven Central into $reg_app"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		if ! mvn -B -gs "$reg_here/registry/settings.xml" -f "$reg_here/registry/pom.xml" \
			-Dapicurio.version="$APICURIO_VERSION" -Dregistry.build.dir="$tmp/build" \
			package >"$tmp.log" 2>&1; then
			tail -n 40 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			die "mvn could not build Apicurio Registry $APICURIO_VERSION"
		fi
		[ -f "$tmp/build/${reg_jar##*/}" ] || die "${reg_jar##*/} missing after mvn (log: $tmp.log)"
		mv "$tmp/build/${reg_jar##*/}" "$tmp/build/lib" "$tmp/"
		rm -rf "$tmp/build" "$tmp.log" "$reg_app"
		mv "$tmp" "$reg_app"
		touch "$reg_app/.complete"
		log "built in $((SECONDS - t0))s ($(ls "$reg_app/lib" | wc -l) jars)"
	fi
	flock -u 9
	exec 9>&-
}

# --- state -----------------------------------------------------------------

reg_pid() { [ -f "$reg_state/pid" ] && cat "$reg_state/pid" || true; }

# reg_ours reports whether pid is still the JVM this state dir started.
reg_ours() {
	local pid=$1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-Dpostbackd.registry.state=$reg_state "
}

reg_running() { reg_ours "$(reg_pid)"; }

# http_ok sends METHOD $2 PATH $3 (with JSON body $4, if any) to
# 127.0.0.1:$1 and succeeds on a 200; bash's /dev/tcp, so curl is not needed.
http_ok() {
	local port=$1 method=$2 path=$3 body=${4:-} status
	status=$(
		exec 2>/dev/null
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nAccept: application/json\r\n' "$method" "$path" "$port" >&3
		[ -z "$body" ] || printf 'Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: %s\r\n' "${#body}" >&3
		printf '\r\n%s' "$body" >&3
		timeout 3 head -n 1 <&3
	) || return 1
	[[ $status == "HTTP/1."?" 200"* ]]
}

reg_print_env() { echo "SCHEMA_REGISTRY_URL=$(cat "$reg_state/url")"; }

# --- commands --------------------------------------------------------------

reg_jvm_args() {
	local port=$1
	# shellcheck disable=SC2206
	jvm=(java ${SCHEMA_REGISTRY_HEAP_OPTS:--Xms64m -Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		"-Dpostbackd.registry.state=$reg_state"
		-Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$port"
		-Dquarkus.log.console.color=false
		-jar "$reg_jar")
	reg_set_cds_file
	if [ -f "$reg_cds_file" ]; then
		jvm=("${jvm[0]}" -XX:SharedArchiveFile="$reg_cds_file" "${jvm[@]:1}")
	elif [ -z "${SCHEMA_REGISTRY_NO_CDS:-}" ]; then
		jvm=("${jvm[0]}" -XX:ArchiveClassesAtExit="$reg_state/classes.jsa" "${jvm[@]:1}")
	fi
}

# reg_set_cds_file names the class-data-sharing archive of the registry's
# classes for this JDK, as kafka.sh does for the broker: with it a start
# costs ~45% less CPU (measured 2.4 -> 1.3 CPU s). The first registry
# without one dumps it at exit (~3 s more in `down`) and reg_stop moves it
# into the cache; the JVM ignores an archive that does not fit.
reg_cds_file=
reg_set_cds_file() {
	[ -n "$reg_cds_file" ] || reg_cds_file=$reg_app/classes-$(java -version 2>&1 | md5sum | cut -c1-12).jsa
}

reg_cmd_up() {
	local compat=${SCHEMA_REGISTRY_COMPATIBILITY:-BACKWARD}
	[[ $compat =~ ^(NONE|BACKWARD|FORWARD|FULL)(_TRANSITIVE)?$ ]] || die "SCHEMA_REGISTRY_COMPATIBILITY=$compat: not a compatibility level"
	if reg_running; then
		log "already running (pid $(reg_pid), state $reg_state)"
		reg_print_env
		return
	fi
	libs=$reg_app ensure_tools # java 17+; maven unless already built
	build_registry

	local t0 port pid
	t0=$(date +%s%N)
	rm -rf "$reg_state"
	mkdir -p "$reg_state/logs"
	port=${SCHEMA_REGISTRY_PORT:-8081}
	if port_in_use "$port"; then
		[ -n "${SCHEMA_REGISTRY_PORT:-}" ] && die "SCHEMA_REGISTRY_PORT=$port is in use"
		port=$(free_port)
	fi
	echo "http://127.0.0.1:$port$reg_path" >"$reg_state/url"
	reg_jvm_args "$port"
	# setsid: the registry outlives this script and is not hit by the caller's ^C.
	# Run from the state dir: Quarkus and H2 write nothing to the work tree then.
	(cd "$reg_state" && exec setsid nohup "${jvm[@]}" >>"$reg_state/logs/registry.out" 2>&1 </dev/null) &
	pid=$!
	echo "$pid" >"$reg_state/pid"
	trap "reg_stop; exit 130" INT
	trap "reg_stop; exit 143" TERM

	local deadline=$((SECONDS + reg_start_timeout))
	until http_ok "$port" GET "$reg_path/subjects"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			reg_fail_start "the registry exited during start-up"
		fi
		if [ $SECONDS -ge $deadline ]; then
			reg_fail_start "the registry did not answer on 127.0.0.1:$port within ${reg_start_timeout}s"
		fi
		sleep 0.2
	done
	# Through the API rather than registry.rules.global.compatibility, which
	# Apicurio applies but GET /config does not show. NONE is Apicurio's own
	# default (no global rule), and PUT NONE would fail for want of a rule.
	if [ "$compat" != NONE ]; then
		http_ok "$port" PUT "$reg_path/config" "{\"compatibility\":\"$compat\"}" ||
			reg_fail_start "PUT $reg_path/config {\"compatibility\":\"$compat\"} failed"
	fi
	trap - INT TERM
	log "Apicurio Registry $APICURIO_VERSION up on 127.0.0.1:$port (pid $pid) in $((($(date +%s%N) - t0) / 1000000)) ms; state $reg_state"
	reg_print_env
}

reg_fail_start() {
	log "error: $1; tail of $reg_state/logs/registry.out:"
	tail -n 40 "$reg_state/logs/registry.out" >&2 2>/dev/null || true
	reg_stop
	exit 1
}

# reg_stop ends the registry of $reg_state, if any, and removes its state dir.
reg_stop() {
	local pid
	pid=$(reg_pid)
	if reg_ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + reg_stop_timeout))
		while reg_ours "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		if reg_ours "$pid"; then
			log "registry (pid $pid) still up ${reg_stop_timeout}s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			while reg_ours "$pid"; do sleep 0.1; done
			rm -f "$reg_state/classes.jsa" # cut short: may be incomplete
		fi
	fi
	if [ -s "$reg_state/classes.jsa" ]; then
		reg_set_cds_file
		if [ ! -f "$reg_cds_file" ]; then
			cp "$reg_state/classes.jsa" "$reg_cds_file.$$" && mv -f "$reg_cds_file.$$" "$reg_cds_file" || rm -f "$reg_cds_file.$$"
		fi
	fi
	rm -rf "$reg_state"
}

reg_cmd_down() {
	local t0 had
	t0=$(date +%s%N)
	had=$(reg_pid)
	reg_stop
	if [ -n "$had" ]; then log "stopped (pid $had) in $((($(date +%s%N) - t0) / 1000000)) ms"; fi
}

reg_cmd_status() {
	if reg_running; then
		echo "running: pid $(reg_pid), SCHEMA_REGISTRY_URL=$(cat "$reg_state/url"), state $reg_state"
	else
		echo "not running (state $reg_state)"
		return 3
	fi
}

reg_cmd_env() {
	reg_running || die "no registry running for state $reg_state: run scripts/registry.sh up"
	reg_print_env
}

reg_main() {
	case "${1:-}" in
	up) reg_cmd_up ;;
	down) reg_cmd_down ;;
	status) reg_cmd_status ;;
	env) reg_cmd_env ;;
	*)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
}

# Sourced (by tests), it only defines its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	reg_main "$@"
fi
