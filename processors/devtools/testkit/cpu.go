package testkit

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessCPU is this process's user+system CPU time, from /proc/self/stat
// (Linux); 0 where that is not available. Benchmarks report CPU per record
// with it: on a shared machine it is steadier than a rate.
func ProcessCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// fields after the parenthesized command: state is field 3, utime 14,
	// stime 15, in clock ticks (USER_HZ, 100 on Linux)
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}
