// Package pipeline wires postbackd's classification stages onto Kafka:
// normalize (raw topics to events.by-device, rejects to the deadletter),
// classify-device (events.by-device to classified and events.by-user) and
// classify-user (events.by-user to classified). Each stage has a Run(ctx)
// entry; cmd/postbackd runs the ones asked for, in one process or many.
//
// Every stage's topics have the same partition count, so that a changelog
// partition matches its input partition and a key lands on the same
// partition number in every topic.
package pipeline
