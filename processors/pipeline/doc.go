// Package pipeline is postbackd's topology (docs/ARCHITECTURE.md,
// "Stages"): normalize (raw topics to events.by-device, rejects to the
// deadletter), device (events.by-device to classified and
// events.by-user), user (events.by-user to classified) and the sink
// (sinks/sinkstage), listed by Topology, and Run, the process that builds
// and runs any selection of them: `postbackd run --stages` and
// `postbackd dev` both call it.
//
// Every stage's topics have the same partition count, so that a changelog
// partition matches its input partition and a key lands on the same
// partition number in every topic.
package pipeline
