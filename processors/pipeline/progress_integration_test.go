//go:build integration

package pipeline_test

import "time"

// stallLimit is how long nothing may move (no record read by the test, no
// stage counter changing) before a wait gives up. Waits are bounded by
// progress, never by a budget for the whole run: a slow or busy machine
// only makes a test take longer, and a test fails only when the pipeline
// has stopped.
const stallLimit = 3 * time.Minute
