//go:build !race

package partner

const raceEnabled = false
