//go:build integration

package stage_test

import "time"

// stallLimit is how long nothing may move (no stage counter changing)
// before a test gives up. Tests are bounded by progress, never by a budget
// for the whole run: a slow or busy machine only makes them take longer.
const stallLimit = 3 * time.Minute
