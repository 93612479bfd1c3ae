// Package partner is the sink stage's delivery core: it turns classified
// records into HTTP postbacks to ad partners, following each partner's rules
// (record types, apps, attributed or all, minimum revenue, event names, GET
// or POST templates), and reports every attempt.
//
// The package knows nothing about Kafka. The stage wiring feeds Sink.Process
// with Jobs read from the classified topic and from the retry-tier topics,
// one partition at a time, and implements Publisher to produce delivery-log
// entries, due retries and deadletters. Process returns the dedup writes for
// the partition's state.Store instead of applying them, so that the wiring
// can changelog them and apply them together with the input offset, as the
// classifiers do; or, when the store is a Recorder, each success is
// recorded through it as it ends, before its worker makes another call,
// so that a crash repeats at most the partner's concurrency of calls.
//
// Delivery uses go-retryablehttp for a short in-process retry on one shared,
// pooled http.Transport, guarded against its pitfalls: a total timeout per
// try, a capped Retry-After, the last status kept (PassthroughErrorHandler),
// the pool hidden from CloseIdleConnections, a redacting logger, and a
// CheckRetry that treats dials refused by the SSRF guard as final. Longer
// waits go through the retry tiers (Publisher.ScheduleRetry), and after the
// last tier to the delivery deadletter (Publisher.DeadLetter).
//
// Each partner has its own queue, workers (its concurrency limit), rate
// limiter and breaker, so one slow or failing partner does not slow the
// others; a Process call waits at most Config.BatchWait for a partner before
// it hands that partner's unfinished deliveries over to the first retry tier.
package partner
