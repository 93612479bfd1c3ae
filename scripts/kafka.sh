#!/usr/bin/env bash
# A one-node Apache Kafka (KRaft, broker+controller in one JVM) for tests,
# built from Maven Central jars: no tarball, no Docker.
#
#   scripts/kafka.sh up       start a fresh one (or reuse a running one); prints KAFKA_BROKERS=host:port
#   scripts/kafka.sh down     stop it (TERM, then KILL after KAFKA_STOP_TIMEOUT) and remove its data
#   scripts/kafka.sh stop     stop it the same way but keep its data, port and config
#   scripts/kafka.sh start    start a stopped one again: same port, same topics and offsets
#   scripts/kafka.sh status   says whether it runs; exit 0 if so, 3 if not
#   scripts/kafka.sh env      prints KAFKA_BROKERS=host:port of the running broker
#
# Usage from a shell:  export $(scripts/kafka.sh up); go test -tags integration ./...
#
# Environment (all optional):
#   KAFKA_VERSION        org.apache.kafka:kafka_2.13 version (default 4.1.2)
#   POSTBACKD_CACHE      where jars are kept between runs and clones (default ~/.cache/postbackd)
#   KAFKA_STATE_DIR      pid, address, config, logs and data of one broker
#                        (default <repo>/.cache/kafka; scripts/with-kafka.sh uses a fresh temp dir
#                        so that concurrent runs in one work tree do not share a broker)
#   KAFKA_PORT           client port (default 9092 when free, else any free port)
#   KAFKA_HEAP_OPTS      default -Xms128m -Xmx512m
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 60: the
#                        first broker of a cache dumps its class-data-sharing archive at exit)
#   KAFKA_NO_CDS         set to skip making that archive
#   KAFKA_CLUSTER_ID     cluster id to format a fresh broker with (default: a random one)
#
# Topics are not auto-created (auto.create.topics.enable=false): the stages
# create theirs at start and tests use kafkatest.Topic, and a typo in a topic
# name should fail loudly rather than create a topic with defaults.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
cache=${POSTBACKD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/postbackd}
libs=$cache/kafka-$KAFKA_VERSION/libs
state=${KAFKA_STATE_DIR:-$repo/.cache/kafka}
start_timeout=${KAFKA_START_TIMEOUT:-90}
stop_timeout=${KAFKA_STOP_TIMEOUT:-60}

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -----------------------------------------------------------------

java_major() {
	# "17.0.15" -> 17, "1.8.0_392" -> 8
	java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }'
}

sudo=
apt_update() {
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "need to install java 17+/maven: not root and no sudo"
		sudo="sudo -n"
	fi
	command -v apt-get >/dev/null || die "need java 17+ and maven, and found no apt-get: install them by hand"
	log "apt-get update"
	$sudo apt-get update -qq >&2
}

apt_install() {
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

# first_available prints the first package apt can install (Debian renames
# the JRE package with each LTS).
first_available() {
	local p
	for p in "$@"; do
		if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

ensure_tools() {
	local need=()
	if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
		need+=(java)
	fi
	if [ ! -f "$libs/.complete" ] && ! command -v mvn >/dev/null; then
		need+=(maven)
	fi
	[ ${#need[@]} -eq 0 ] && return 0
	# apt-cache needs fresh package lists, so update once before looking.
	apt_update
	local pkgs=()
	if [[ " ${need[*]} " == *" java "* ]]; then
		local jre
		jre=$(first_available openjdk-17-jre-headless openjdk-21-jre-headless openjdk-25-jre-headless default-jre-headless) ||
			die "no JRE 17+ package found by apt-cache"
		pkgs+=("$jre")
	fi
	[[ " ${need[*]} " == *" maven "* ]] && pkgs+=(maven)
	apt_install "${pkgs[@]}"
	command -v java >/dev/null && [ "$(java_major)" -ge 17 ] || die "java 17+ still missing after install (update-alternatives?)"
}

# --- jars ------------------------------------------------------------------

# resolve_maven POM DIR JAR WHAT [-Dprop=value ...] copies the run-time
# classpath of POM into DIR once (JAR must be among it); .complete marks a
# finished copy, and a lock keeps concurrent first runs from writing the
# same directory. avro.sh resolves Java Avro with it too.
resolve_maven() {
	local pom=$1 dir=$2 jar=$3 what=$4
	shift 4
	[ -f "$dir/.complete" ] && return 0
	mkdir -p "$(dirname "$dir")"
	exec 9>"$dir.lock"
	flock 9
	if [ ! -f "$dir/.complete" ]; then
		local t0=$SECONDS tmp="$dir.tmp.$$"
		log "resolving $what from Maven Central into $dir"
		rm -rf "$tmp"
		if ! mvn -B -f "$pom" "$@" \
			dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
			tail -n 40 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			die "mvn could not resolve $what"
		fi
		ls "$tmp/$jar" >/dev/null || die "$jar missing after mvn"
		rm -rf "$dir" "$tmp.log"
		mv "$tmp" "$dir"
		touch "$dir/.complete"
		log "resolved $(ls "$dir" | wc -l) jars in $((SECONDS - t0))s"
	fi
	flock -u 9
	exec 9>&-
}

# resolve_libs copies kafka_2.13 and its run-time classpath, plus a log4j2
# backend, into $libs once.
resolve_libs() {
	resolve_maven "$here/kafka/pom.xml" "$libs" "kafka_2.13-$KAFKA_VERSION.jar" "kafka_2.13:$KAFKA_VERSION" -Dkafka.version="$KAFKA_VERSION"
}

# --- ports -----------------------------------------------------------------

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || { echo "$p"; return; }
	done
	die "found no free port"
}

# --- state -----------------------------------------------------------------

pid_of() { [ -f "$state/pid" ] && cat "$state/pid" || true; }

# ours reports whether pid is still the JVM this state dir started (a pid can
# be reused by an unrelated process after a crash).
ours() {
	local pid=$1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $state/server.properties"
}

running() { ours "$(pid_of)"; }

# stopped reports whether $state holds a broker that `stop` left behind.
stopped() { [ -f "$state/server.properties" ] && [ -f "$state/brokers" ] && [ -f "$state/data/meta.properties" ]; }

# metadata_ok sends a real Metadata v4 request (all topics) and checks that the
# answer carries our correlation id and at least one broker. The broker opens
# its client listener for requests only once it is registered and unfenced.
metadata_ok() {
	local port=$1 reply
	reply=$(
		exec 2>/dev/null
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		# size=15 | api_key=3 (Metadata) | version=4 | correlation_id=7 | client_id="" | topics=null | allow_auto_create=false
		printf '\x00\x00\x00\x0f\x00\x03\x00\x04\x00\x00\x00\x07\x00\x00\xff\xff\xff\xff\x00' >&3
		timeout 3 head -c 16 <&3 | od -An -tx1 | tr -d ' \n'
	) || return 1
	# size(4) correlation_id(4)=7 throttle_ms(4) broker_count(4)>0
	[[ ${#reply} -eq 32 && ${reply:8:8} == 00000007 && ${reply:24:8} != 00000000 ]]
}

# --- commands --------------------------------------------------------------

write_config() {
	local port=$1 cport=$2
	cat >"$state/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$state/data

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# A small 2-core machine shared with the tests themselves.
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
log.retention.check.interval.ms=60000
EOF
}

# jvm_args: a small heap and the serial collector leave the two cores to the
# tests; logs go to $state/logs.
jvm_args() {
	# shellcheck disable=SC2206
	jvm=(java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true -Dkafka.logs.dir="$state/logs"
		-Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$libs/*")
	set_cds_file
	if [ -f "$cds_file" ]; then jvm+=(-XX:SharedArchiveFile="$cds_file"); fi
}

# set_cds_file names the class-data-sharing archive of the broker's classes
# for this JDK: with it a start costs ~40% less CPU (measured 3.8 -> 2.3 CPU s).
# The first broker without one dumps it at exit (a few seconds more in
# `down`), and stop() moves it into the cache. The JVM ignores an archive that
# does not fit, so a stale one costs nothing but its benefit.
cds_file=
set_cds_file() {
	[ -n "$cds_file" ] || cds_file=$cache/kafka-$KAFKA_VERSION/classes-$(java -version 2>&1 | md5sum | cut -c1-12).jsa
}

print_env() { echo "KAFKA_BROKERS=$(cat "$state/brokers")"; }

# new_cluster_id prints 16 random bytes as unpadded base64url, a Kafka
# cluster id. About one in 64 starts with '-', which StorageTool would read
# as an option: such ids are drawn again (and format gets --cluster-id=ID,
# which takes any id).
new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		[[ $id == -* ]] || break
	done
	echo "$id"
}

cmd_up() {
	if running; then
		log "already running (pid $(pid_of), state $state)"
		print_env
		return
	fi
	ensure_tools
	resolve_libs

	local t0 port cport
	t0=$(date +%s%N)
	rm -rf "$state"
	mkdir -p "$state/logs" "$state/data"
	port=${KAFKA_PORT:-9092}
	if port_in_use "$port"; then
		[ -n "${KAFKA_PORT:-}" ] && die "KAFKA_PORT=$port is in use"
		port=$(free_port)
	fi
	cport=$(free_port)
	[ "$cport" != "$port" ] || cport=$(free_port)
	write_config "$port" "$cport"

	format_storage "${KAFKA_CLUSTER_ID:-$(new_cluster_id)}"
	echo "127.0.0.1:$port" >"$state/brokers"
	launch "$port" "$t0" stop
}

# format_storage formats $state's KRaft storage with cluster id $1. The
# --cluster-id=ID form, because `-t ID` reads an id that starts with '-' as
# an option.
format_storage() {
	jvm_args
	"${jvm[@]}" kafka.tools.StorageTool format --cluster-id="$1" -c "$state/server.properties" >"$state/logs/format.out" 2>&1 ||
		{ cat "$state/logs/format.out" >&2; die "formatting KRaft storage failed"; }
}

# launch starts the broker of the configured and formatted $state and waits
# until it answers on port; a failed start ends with $3 (stop: remove the
# state; halt: keep it).
launch() {
	local port=$1 t0=$2 on_fail=$3 pid
	jvm_args
	# setsid: the broker outlives this script and is not hit by the caller's ^C.
	[ -f "$cds_file" ] || [ -n "${KAFKA_NO_CDS:-}" ] || jvm+=(-XX:ArchiveClassesAtExit="$state/classes.jsa")
	setsid nohup "${jvm[@]}" kafka.Kafka "$state/server.properties" \
		>>"$state/logs/kafka.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$state/pid"
	# The broker is in its own session, so ^C here would leave it running.
	# shellcheck disable=SC2064 # on_fail is meant to be expanded now
	trap "$on_fail; exit 130" INT
	# shellcheck disable=SC2064
	trap "$on_fail; exit 143" TERM

	local deadline=$((SECONDS + start_timeout))
	until metadata_ok "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			fail_start "the broker exited during start-up" "$on_fail"
		fi
		if [ $SECONDS -ge $deadline ]; then
			fail_start "the broker did not answer on 127.0.0.1:$port within ${start_timeout}s" "$on_fail"
		fi
		sleep 0.2
	done
	trap - INT TERM
	log "kafka $KAFKA_VERSION up on 127.0.0.1:$port (pid $pid) in $((($(date +%s%N) - t0) / 1000000)) ms; state $state"
	print_env
}

fail_start() {
	log "error: $1; tail of $state/logs:"
	tail -n 40 "$state/logs/server.log" "$state/logs/kafka.out" >&2 2>/dev/null || true
	"$2"
	exit 1
}

# stop ends the broker of $state, if any, and removes its state dir.
stop() {
	halt
	rm -rf "$state"
}

# halt ends the broker of $state, if any, and keeps its state dir.
halt() {
	local pid
	pid=$(pid_of)
	if ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + stop_timeout))
		while ours "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		if ours "$pid"; then
			log "broker (pid $pid) still up ${stop_timeout}s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			while ours "$pid"; do sleep 0.1; done
			rm -f "$state/classes.jsa" # cut short: may be incomplete
		fi
	fi
	if [ -s "$state/classes.jsa" ]; then
		set_cds_file
		if [ ! -f "$cds_file" ]; then
			cp "$state/classes.jsa" "$cds_file.$$" && mv -f "$cds_file.$$" "$cds_file" || rm -f "$cds_file.$$"
		fi
		rm -f "$state/classes.jsa"
	fi
	rm -f "$state/pid"
}

cmd_down() {
	local t0 had
	t0=$(date +%s%N)
	had=$(pid_of)
	stop
	if [ -n "$had" ]; then log "stopped (pid $had) in $((($(date +%s%N) - t0) / 1000000)) ms"; fi
}

# cmd_stop stops the broker and keeps what cmd_start needs to bring the
# same broker back: data, config (with its ports) and address.
cmd_stop() {
	local t0 had
	t0=$(date +%s%N)
	had=$(pid_of)
	if ! running; then
		stopped || die "no broker in $state: run scripts/kafka.sh up"
		log "not running; state kept in $state"
		return
	fi
	halt
	log "stopped (pid $had) in $((($(date +%s%N) - t0) / 1000000)) ms; state kept in $state"
}

cmd_start() {
	if running; then
		log "already running (pid $(pid_of), state $state)"
		print_env
		return
	fi
	stopped || die "no stopped broker in $state: run scripts/kafka.sh up"
	ensure_tools
	resolve_libs
	local t0 addr port cport
	t0=$(date +%s%N)
	addr=$(cat "$state/brokers")
	port=${addr##*:}
	cport=$(sed -n 's/^controller.quorum.voters=.*:\([0-9]*\)$/\1/p' "$state/server.properties")
	for p in "$port" $cport; do
		port_in_use "$p" && die "port $p of the stopped broker is taken by another process"
	done
	launch "$port" "$t0" halt
}

cmd_status() {
	if running; then
		echo "running: pid $(pid_of), KAFKA_BROKERS=$(cat "$state/brokers"), state $state"
	elif stopped; then
		echo "stopped, state kept (scripts/kafka.sh start resumes it on $(cat "$state/brokers")); state $state"
		return 3
	else
		echo "not running (state $state)"
		return 3
	fi
}

cmd_env() {
	running || die "no broker running for state $state: run scripts/kafka.sh up"
	print_env
}

main() {
	case "${1:-}" in
	up) cmd_up ;;
	down) cmd_down ;;
	stop) cmd_stop ;;
	start) cmd_start ;;
	status) cmd_status ;;
	env) cmd_env ;;
	*)
		sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
}

# Sourced (by the script's tests), it only defines its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
