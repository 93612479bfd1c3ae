// Package demopartner is a fake ad partner: an HTTP server on loopback that
// accepts postbacks on any path, records what it receives and counts it per
// partner, deduplicating by the Idempotency-Key header as a careful partner
// would. `postbackd dev` points its partners at it, and the sink's tests
// use it to see what was delivered, how often, and how the sink copes with
// failures it injects on purpose (500s, 429s with Retry-After, slow
// answers) or that a test scripts (Fault.Answer).
//
// The partner is the path segment after /p/ (/p/adnet/install?...), else
// the first path segment, so one Server is as many partners as a test
// needs, each with its own Fault, counts and keys. The record type is the
// `type` query parameter, else the X-Record-Type header, else the "type"
// field of a JSON body.
//
// What a test checks comes in three forms: Stats, a partner's counts;
// Keys, how often each Idempotency-Key was received and accepted ("exactly
// once as the partner sees it"); Requests, each request with its headers,
// body, status and the times it arrived and was answered.
//
// # Decisions
//
//   - A request is accepted when the partner answered it 2xx, whoever
//     wrote the answer: a Fault.Answer writes through a ResponseWriter that
//     records the status, rather than saying what it did, so the counts
//     are what the client was told.
//   - A request whose client left before any answer was written is
//     Abandoned, not accepted: the partner never answered it. An answer
//     written to a client that has just left still counts, as a real
//     partner that did the work would have it.
//   - Received is counted when a request arrives (a measure of progress
//     for tests that wait), the answer's counts when it is written.
//   - Keys' counts are kept for as long as the server runs, like a
//     partner's dedup; times are kept only in Requests, which is bounded
//     (SetMaxRequests), so that `postbackd dev` running for hours does not
//     grow by a time per request.
package demopartner
