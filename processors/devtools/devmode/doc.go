// Package devmode is `postbackd dev`: the whole pipeline on one machine
// with nothing installed. Run starts an in-process Kafka-protocol broker
// (kfake) unless brokers are given, the demo partner, every stage of
// pipeline.Topology through pipeline.Run, and a generator feeding the raw
// topics; it shows live progress, read from the pipeline's Prometheus
// registry and the demo partner, decides when the run is over, and prints
// a summary. cmd/postbackd only parses the flags into Options.
package devmode
