// Package config loads postbackd's YAML configuration file: Kafka
// connection, topic names, state directory, per-app classification windows
// and the sink's section (parsed by sinks/partner). Every problem is
// reported with the file, line and field it is at, and all problems are
// reported at once, so an operator fixes a file in one pass.
package config
