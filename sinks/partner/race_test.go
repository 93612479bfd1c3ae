//go:build race

package partner

// raceEnabled skips throughput assertions: the race detector makes the
// sink CPU-bound, which measures the machine, not partner isolation.
const raceEnabled = true
