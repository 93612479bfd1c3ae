// Package generator produces deterministic, realistic raw traffic for
// postbackd: clicks, impressions and app events in the replay JSON-lines
// form of CLASSIFICATION.md, in stream order.
//
// Every device follows a lifecycle: touches from ad partners before an
// install (or none, for organic installs), the install session, ordinary
// sessions with registrations, logins, purchases, ad revenue and custom
// events, and now and then a long pause (a re-engagement when the device
// comes back, often after a retargeting click) or an uninstall followed by
// a re-install. Devices progress concurrently in simulated time: the
// generator always emits the record of the device whose next record is due
// first, so the stream is in global time order and every device's records
// are in order, as in a real stream.
//
// The same Config (Seed included) always gives the same stream. Memory is
// O(Devices), whatever the number of records drawn.
//
// It is used by `postbackd dev`, the end-to-end tests and the benchmarks.
package generator
