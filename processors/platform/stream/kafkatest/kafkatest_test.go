package kafkatest

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParseBrokers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"127.0.0.1:9092", []string{"127.0.0.1:9092"}},
		{"a:1, b:2,,c:3 ", []string{"a:1", "b:2", "c:3"}},
	}
	for _, tt := range tests {
		if got := parseBrokers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseBrokers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

func TestTopicNameIsLegalAndUnique(t *testing.T) {
	names := []string{
		"TestIntegrationX",
		"TestIntegrationX/sub test #01",
		"Test_with.dots_and_underscores",
		"///",
		strings.Repeat("VeryLong", 100),
	}
	seen := map[string]bool{}
	for _, n := range names {
		for range 2 {
			got := topicName(n)
			if !legalTopic.MatchString(got) || len(got) > 249 {
				t.Errorf("topicName(%q) = %q: not a legal topic name", n, got)
			}
			if seen[got] {
				t.Errorf("topicName(%q) = %q twice", n, got)
			}
			seen[got] = true
		}
	}
	if got := topicName("TestA/b c"); !strings.HasPrefix(got, "TestA-b-c-") {
		t.Errorf("topicName keeps no readable prefix: %q", got)
	}
}

// fakeReporter records what brokers decided instead of ending the test.
type fakeReporter struct{ fatal, skip string }

func (f *fakeReporter) Helper()                           {}
func (f *fakeReporter) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *fakeReporter) Skipf(format string, args ...any)  { f.skip = fmt.Sprintf(format, args...) }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestBrokersDecision(t *testing.T) {
	ok := func([]string) error { return nil }
	down := func([]string) error { return errors.New("connection refused") }
	tests := []struct {
		name      string
		vars      map[string]string
		check     func([]string) error
		wantAddrs []string
		wantFatal string
		wantSkip  string
	}{
		{"unset locally skips", map[string]string{}, ok, nil, "", "not set"},
		{"unset under CI fails", map[string]string{"CI": "true"}, ok, nil, "not set under CI", ""},
		{"unreachable locally skips", map[string]string{EnvBrokers: "h:1"}, down, nil, "", "does not answer"},
		{"unreachable under CI fails", map[string]string{EnvBrokers: "h:1", "CI": "true"}, down, nil, "does not answer under CI", ""},
		{"reachable", map[string]string{EnvBrokers: "h:1,h:2", "CI": "true"}, ok, []string{"h:1", "h:2"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeReporter{}
			got := brokers(r, env(tt.vars), tt.check)
			if !slices.Equal(got, tt.wantAddrs) {
				t.Errorf("addrs = %q, want %q", got, tt.wantAddrs)
			}
			if !contains(r.fatal, tt.wantFatal) || !contains(r.skip, tt.wantSkip) {
				t.Errorf("fatal=%q skip=%q, want fatal~%q skip~%q", r.fatal, r.skip, tt.wantFatal, tt.wantSkip)
			}
		})
	}
}

// contains treats an empty want as "nothing reported".
func contains(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.Contains(got, want)
}

func TestReachableRefused(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := reachable([]string{addr}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("reachable(%s) = %v, want an error naming the address", addr, err)
	}
}
