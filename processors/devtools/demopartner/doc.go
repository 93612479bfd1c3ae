// Package demopartner is a fake ad partner: an HTTP server on loopback that
// accepts postbacks on any path, records what it receives and counts it per
// partner, deduplicating by the Idempotency-Key header as a careful partner
// would. `postbackd dev` points its partners at it, and the sink's tests
// use it to see what was delivered, how often, and how the sink copes with
// failures it injects on purpose (500s, 429s with Retry-After, slow
// answers).
//
// The partner is the path segment after /p/ (/p/adnet/install?...), else
// the first path segment. The record type is the `type` query parameter,
// else the X-Record-Type header, else the "type" field of a JSON body.
package demopartner
