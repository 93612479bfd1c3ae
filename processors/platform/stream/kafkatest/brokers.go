package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnvBrokers names the variable holding the comma-separated bootstrap
// addresses of the test broker.
const EnvBrokers = "KAFKA_BROKERS"

// dialTimeout bounds the reachability check: a local broker answers in
// milliseconds, and a missing one should not stall a test run.
const dialTimeout = 5 * time.Second

const howToRun = "run `make test-integration`, or `export $(scripts/kafka.sh up)` and go test -tags integration"

// Brokers returns the addresses of the test broker from KAFKA_BROKERS after
// checking that one of them answers a metadata request. When the variable
// is unset or no broker answers, the test is skipped, or failed under CI.
func Brokers(t testing.TB) []string {
	t.Helper()
	return brokers(t, os.Getenv, reachable)
}

// reporter is the part of testing.TB that brokers needs, so its decisions
// can be tested without a broker and without ending the calling test.
type reporter interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

func brokers(t reporter, getenv func(string) string, check func([]string) error) []string {
	t.Helper()
	ci := getenv("CI") == "true"
	addrs := parseBrokers(getenv(EnvBrokers))
	if len(addrs) == 0 {
		if ci {
			t.Fatalf("%s not set under CI: integration tests need a broker; %s", EnvBrokers, howToRun)
		} else {
			t.Skipf("%s not set: %s", EnvBrokers, howToRun)
		}
		return nil
	}
	if err := check(addrs); err != nil {
		if ci {
			t.Fatalf("kafka broker %v does not answer under CI: %v", addrs, err)
		} else {
			t.Skipf("kafka broker %v does not answer (%v): %s", addrs, err, howToRun)
		}
		return nil
	}
	return addrs
}

// parseBrokers splits a comma-separated address list, dropping blanks.
func parseBrokers(s string) []string {
	var addrs []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// reachable reports nil when any of addrs answers a metadata request.
func reachable(addrs []string) error {
	var errs []string
	for _, addr := range addrs {
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			defer cancel()
			conn, err := kafka.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
				return err
			}
			_, err = conn.Brokers()
			return err
		}()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
