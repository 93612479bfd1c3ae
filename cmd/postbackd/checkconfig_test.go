package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const exampleConfig = "../../config.example.yaml"

// exampleWithSecrets returns the example's text with its secret_file
// pointing at a file that exists, and sets its secret_env, so that the
// secrets check passes.
func exampleWithSecrets(t *testing.T) string {
	t.Helper()
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(t.TempDir(), "videonet-secret")
	if err := os.WriteFile(secretFile, []byte("whsec_"+base64.StdEncoding.EncodeToString([]byte("videonet key"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ADNET_SIGNING_SECRET", "adnet secret")
	return replaceAll(t, string(example), []struct{ from, to string }{{"/run/secrets/videonet-secret", secretFile}})
}

func replaceAll(t *testing.T, text string, rs []struct{ from, to string }) string {
	t.Helper()
	for _, r := range rs {
		if !strings.Contains(text, r.from) {
			t.Fatalf("text no longer contains %q", r.from)
		}
		text = strings.Replace(text, r.from, r.to, 1)
	}
	return text
}

func writeCheckConfigFile(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// lineOf returns "file:N: " for the first line of text containing s.
func lineOf(t *testing.T, file, text, s string) string {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return file + ":" + strconv.Itoa(i+1) + ": "
		}
	}
	t.Fatalf("no line with %q", s)
	return ""
}

func invoke(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &environment{stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	file := writeCheckConfigFile(t, exampleWithSecrets(t))
	code, stdout, stderr := invoke(context.Background(), "check-config", file)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "ok") {
		t.Errorf("stdout = %q", stdout)
	}
}

// TestCheckConfigSkipSecrets: without the machine's secrets, the example
// fails on them, and passes with --skip-secrets.
func TestCheckConfigSkipSecrets(t *testing.T) {
	os.Unsetenv("ADNET_SIGNING_SECRET") //nolint:errcheck // absent either way
	if code, _, stderr := invoke(context.Background(), "check-config", exampleConfig); code == 0 || !strings.Contains(stderr, "ADNET_SIGNING_SECRET is not set") {
		t.Errorf("exit %d without the secrets:\n%s", code, stderr)
	}
	if code, _, stderr := invoke(context.Background(), "check-config", "--skip-secrets", exampleConfig); code != 0 {
		t.Errorf("exit %d with --skip-secrets:\n%s", code, stderr)
	}
}

// TestCheckConfigPointsAtFileLineAndField breaks a copy of the example in
// several places and expects each problem with its file, line and field.
func TestCheckConfigPointsAtFileLineAndField(t *testing.T) {
	text := replaceAll(t, exampleWithSecrets(t), []struct{ from, to string }{
		{"  partitions: 12", "  partitions: twelve"},
		{"    inactivity_window: 14d", "    inactivity_window: two weeks"},
		{"types: [install, reinstall, first_purchase, purchase]", "types: [install, teleport]"},
		{"{partner_event}&click_id", "{partner_evnt}&click_id"},
		{"apps: [com.example.game]", "apps: [com.example.gaem]"},
		{"    # advertise: postbackd-1.internal:8088", "    advertise: postbackd-1.internal"},
	})
	file := writeCheckConfigFile(t, text)
	code, _, stderr := invoke(context.Background(), "check-config", file)
	if code == 0 {
		t.Fatal("a broken config passed")
	}
	for _, want := range []string{
		lineOf(t, file, text, "partitions: twelve") + "kafka.partitions:",
		lineOf(t, file, text, "inactivity_window: two weeks") + "apps[0].inactivity_window:",
		"sink.partners[0].rules[0].types",
		"teleport",
		"partner_evnt",
		"unknown app \"com.example.gaem\"",
		lineOf(t, file, text, "advertise: postbackd-1.internal") + "sink.admin.advertise:",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}
}

// TestCheckConfigNeverPanics covers the panics of issue 10: a file that is
// not YAML made config.Load return a nil Config, which check-config handed
// to the sink parser. Each must be one problem naming the file.
func TestCheckConfigNeverPanics(t *testing.T) {
	const depth = 100_000
	for name, tc := range map[string]struct{ text, want string }{
		"syntax error":        {"kafka:\n  brokers: [a\nsink: {}\n", ":1: (file): not valid YAML: did not find expected ',' or ']'"},
		"binary file":         {"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00", ":1: (file): not a text file (control character 0x02 at offset 4)"},
		"invalid UTF-8":       {"kafka:\n  client_id: \xc3\x28\n", ":2: (file): not a text file (invalid UTF-8 byte 0xc3 at offset 20)"},
		"100k-deep flow":      {strings.Repeat("[", depth) + strings.Repeat("]", depth), ": (file): not valid YAML: exceeded max depth of 10000"},
		"100k-deep mappings":  {"sink:\n  partners: " + strings.Repeat("{a: ", depth) + "1" + strings.Repeat("}", depth), ":2: (file): not valid YAML: exceeded max depth of 10000"},
		"100k-deep block":     {strings.Repeat("- ", depth) + "x\n", ": (file): not valid YAML: exceeded max depth of 10000"},
		"undefined alias":     {"sink: *nowhere\n", ": (file): not valid YAML: unknown anchor 'nowhere' referenced"},
		"two documents":       {"kafka: {}\n---\nsink: {}\n", ":2: (file): a second YAML document"},
		"a list, not a map":   {"- kafka\n- sink\n", ":1: (file): want a mapping"},
		"sink is not a map":   {"sink: [a, b]\n", ":1: sink: want a mapping"},
		"partner not a map":   {"sink:\n  partners: [3]\n", ":2: sink.partners[0]: want a mapping"},
		"partners not a list": {"sink:\n  partners: {a: 1}\n", ":2: sink.partners: want a list"},
	} {
		file := writeCheckConfigFile(t, tc.text)
		code, _, stderr := invoke(context.Background(), "check-config", file)
		if code != 1 || !strings.Contains(stderr, file+tc.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant %q", name, code, stderr, file+tc.want)
		}
	}
	dir := t.TempDir()
	if code, _, stderr := invoke(context.Background(), "check-config", dir); code != 1 || !strings.Contains(stderr, "is a directory") {
		t.Errorf("a directory: exit %d, stderr:\n%s", code, stderr)
	}
}

// brokenSink is the example with each problem of issue 10, part 5, that
// run refuses at start; want lists the problems by the text of their line.
func brokenSink(t *testing.T) (file string, want []string) {
	t.Helper()
	text := exampleWithSecrets(t)
	t.Setenv("PD_EMPTY_SECRET", "")
	t.Setenv("PD_BAD_WHSEC", "whsec_%%%not-base64")
	os.Unsetenv("PD_UNSET_SECRET") //nolint:errcheck // absent either way
	partner := func(id, extra, url, rule string) string {
		return "    - id: " + id + "\n" + extra + "      rules:\n        - types: [install]\n          url: \"" + url + "\"\n" + rule
	}
	extra := strings.Join([]string{
		partner("unset", "      secret_env: PD_UNSET_SECRET\n", "https://a.example/pb", ""),
		partner("empty", "      secret_env: PD_EMPTY_SECRET\n", "https://a.example/pb", ""),
		partner("nofile", "      secret_file: /nonexistent/postbackd-secret\n", "https://a.example/pb", ""),
		partner("whsec", "      secret_env: PD_BAD_WHSEC\n", "https://a.example/pb", ""),
		partner("metadata", "", "http://169.254.169.254/latest/meta-data?id={postback_id}", ""),
		partner("metadata6", "", "http://[fd00:ec2::254]/pb", ""),
		partner("loopback", "", "http://127.0.0.1:8080/pb", ""),
		partner("private", "", "https://10.1.2.3/pb", ""),
		partner("linklocal", "", "https://[fe80::1]/pb", ""),
		partner("header", "", "https://a.example/pb", "          headers: {X-Evil: \"a\\r\\nX-Injected: 1\"}\n"),
		partner("timeouts", "      timeouts: {connect: 100us, headers: 10s, total: 999us}\n", "https://a.example/pb", ""),
		partner("revenue", "", "https://a.example/pb", "          min_revenue: -1\n"),
	}, "")
	text = replaceAll(t, text, []struct{ from, to string }{{"  partners:\n", "  partners:\n" + extra}})
	file = writeCheckConfigFile(t, text)
	at := func(s, field, msg string) string { return lineOf(t, file, text, s) + field + ": " + msg }
	return file, []string{
		at("PD_UNSET_SECRET", "sink.partners[0].secret_env", "environment variable PD_UNSET_SECRET is not set"),
		at("PD_EMPTY_SECRET", "sink.partners[1].secret_env", "environment variable PD_EMPTY_SECRET is empty"),
		at("/nonexistent/postbackd-secret", "sink.partners[2].secret_file", "cannot read the secret: /nonexistent/postbackd-secret: no such file or directory"),
		at("PD_BAD_WHSEC", "sink.partners[3].secret_env", "whsec_ secret is not base64"),
		at("169.254.169.254", "sink.partners[4].rules[0].url", "host 169.254.169.254 is not public (cloud metadata, link-local address)"),
		at("fd00:ec2::254", "sink.partners[5].rules[0].url", "host fd00:ec2::254 is not public (cloud metadata, private address)"),
		at("127.0.0.1:8080", "sink.partners[6].rules[0].url", "host 127.0.0.1 is not public (loopback address)"),
		at("10.1.2.3", "sink.partners[7].rules[0].url", "host 10.1.2.3 is not public (private address)"),
		at("[fe80::1]", "sink.partners[8].rules[0].url", "host fe80::1 is not public (link-local address)"),
		at("X-Evil", "sink.partners[9].rules[0].headers.X-Evil", "CR or LF in a header value"),
		at("connect: 100us", "sink.partners[10].timeouts.connect", "must be at least 1ms, got 100µs"),
		at("connect: 100us", "sink.partners[10].timeouts.total", "must be at least 1ms, got 999µs"),
		at("min_revenue: -1", "sink.partners[11].rules[0].min_revenue", "must not be negative, got -1"),
	}
}

func TestCheckConfigReportsWhatRunRefuses(t *testing.T) {
	file, want := brokenSink(t)
	code, _, stderr := invoke(context.Background(), "check-config", file)
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("missing %q in:\n%s", w, stderr)
		}
	}
	if !strings.Contains(stderr, strconv.Itoa(len(want))+" problem(s) in "+file) {
		t.Errorf("want exactly the %d problems:\n%s", len(want), stderr)
	}
	if strings.Contains(stderr, "not-base64") {
		t.Error("a secret's value is printed")
	}
}

// TestRunRefusesAtStartWithTheSameProblems runs `run` on the same files as
// check-config, with a context already cancelled: a problem must stop run
// before it reaches Kafka, whose first step would fail on the context
// instead (the good example shows that step is reached).
func TestRunRefusesAtStartWithTheSameProblems(t *testing.T) {
	t.Setenv("POSTBACKD_KAFKA_BROKERS", "127.0.0.1:1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The good example gets as far as Kafka, which fails: the context is
	// cancelled and nothing listens on port 1 (whichever the first step
	// notices first); a broken one is refused before.
	reachedKafka := func(stderr string) bool {
		return strings.Contains(stderr, "context canceled") || strings.Contains(stderr, "127.0.0.1:1")
	}
	good := writeCheckConfigFile(t, exampleWithSecrets(t))
	if code, _, stderr := invoke(ctx, "run", "--config", good); code != 1 || !reachedKafka(stderr) {
		t.Fatalf("the good example: exit %d, want the failed Kafka step:\n%s", code, stderr)
	}
	file, want := brokenSink(t)
	code, _, stderr := invoke(ctx, "run", "--config", file)
	if code != 1 || reachedKafka(stderr) {
		t.Fatalf("exit %d, want a refusal before Kafka:\n%s", code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("missing %q in:\n%s", w, stderr)
		}
	}
	for name, text := range map[string]string{
		"syntax": "kafka: [\n", "binary": "\x00\x01\x02", "deep": strings.Repeat("[", 100_000),
	} {
		file := writeCheckConfigFile(t, text)
		if code, _, stderr := invoke(ctx, "run", "--config", file); code != 1 || !strings.Contains(stderr, "postbackd run: "+file) || !strings.Contains(stderr, ": (file): ") {
			t.Errorf("%s: exit %d:\n%s", name, code, stderr)
		}
	}
}
