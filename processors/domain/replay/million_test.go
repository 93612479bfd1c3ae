package replay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// TestReplayMillion replays 1,000,000 generated records (100,000 devices)
// and reports time and peak RSS. It takes tens of seconds, so it runs only
// with REPLAY_1M=1:
//
//	REPLAY_1M=1 go test -run Million -v ./processors/domain/replay/
func TestReplayMillion(t *testing.T) {
	if os.Getenv("REPLAY_1M") == "" {
		t.Skip("set REPLAY_1M=1 to replay 1,000,000 records")
	}
	const n = 1000000
	f, err := os.CreateTemp(t.TempDir(), "in-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// REPLAY_DEVICES overrides the device count, to measure a working set
	// larger than the state caches (they spill to Badger then).
	devices := 100000
	if d, err := strconv.Atoi(os.Getenv("REPLAY_DEVICES")); err == nil && d > 0 {
		devices = d
	}
	generate(w, n, devices)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	defer f.Close()

	start, startCPU := time.Now(), cpuTime()
	stats, err := Run(context.Background(), Config{}, f, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	elapsed, cpu := time.Since(start), cpuTime()-startCPU
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("replayed %d lines over %d devices (%d records out, %d duplicates) in %v (%v CPU): %.0f lines/s; VmHWM %s; Go heap sys %d MB",
		stats.Lines, devices, stats.Records, stats.Duplicates, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(n)/elapsed.Seconds(), vmHWM(), ms.HeapSys>>20)
	t.Logf("device cache %+v", stats.DeviceCache)
	t.Logf("user cache %+v", stats.UserCache)
	if stats.Lines != n || stats.Rejected != 0 {
		t.Fatalf("stats %+v", stats)
	}
}

func generate(w io.Writer, n, devices int) {
	r := rand.New(rand.NewSource(1))
	types := []string{schemas.EventInstall, schemas.EventLaunch, schemas.EventLaunch, schemas.EventLogin, schemas.EventPurchase, schemas.EventCustomEvent, schemas.EventCustomRevenue, schemas.EventRegistration}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	for i := 0; i < n; i++ {
		now = now.Add(time.Duration(r.Int63n(int64(20 * time.Second))))
		dev := fmt.Sprintf("device-%06d", r.Intn(devices))
		var in schemas.Input
		if i%5 == 0 {
			in.Click = &schemas.Click{ClickID: fmt.Sprintf("c%d", i), Touch: schemas.TouchClick, Partner: "adnet", Campaign: "spring", AppID: "com.example.game", DeviceID: dev, TS: now.Add(-time.Hour)}
		} else {
			e := &schemas.Event{EventID: fmt.Sprintf("e%d", i), AppID: "com.example.game", Platform: schemas.PlatformAndroid, DeviceID: dev, Type: types[r.Intn(len(types))], TS: now}
			switch e.Type {
			case schemas.EventPurchase, schemas.EventCustomRevenue:
				rev := 1.99
				e.Revenue, e.Currency = &rev, "USD"
			case schemas.EventCustomEvent:
				e.Name = "level_up"
			}
			if i%2 == 0 {
				e.UserID = "user-" + dev
			}
			in.Event = e
		}
		buf = append(schemas.AppendInputJSON(buf[:0], &in), '\n')
		w.Write(buf)
	}
}

// vmHWM is the process's peak resident set size, from /proc.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if s := string(line); strings.HasPrefix(s, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(s, "VmHWM:"))
		}
	}
	return "unknown"
}

// cpuTime is the process's user+system CPU time: on a shared machine wall
// time measures the neighbours too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
