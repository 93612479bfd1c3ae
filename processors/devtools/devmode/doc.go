// Package devmode is what `postbackd dev` shows: a live progress view of a
// local pipeline, read from its Prometheus registry and from the demo
// partner, and the summary table printed at the end.
//
// It only reads and prints; starting the broker, the pipeline and the
// traffic is the command's job.
package devmode
