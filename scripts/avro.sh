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

libs=$avro_libs ensure_tools
resolve_maven "$avro_here/avro/pom.xml" "$avro_libs" "avro-$AVRO_VERSION.jar" "org.apache.avro:avro:$AVRO_VERSION" -Davro.version="$AVRO_VERSION"
exec java -cp "$avro_libs/*" "$avro_here/avro/AvroCheck.java" "$@"
