package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check-config", "../../config.example.yaml"}, &environment{stdout: &stdout, stderr: &stderr})
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok") {
		t.Errorf("stdout = %q", stdout.String())
	}
}

// TestCheckConfigPointsAtFileLineAndField breaks a copy of the example in
// several places and expects each problem with its file, line and field.
func TestCheckConfigPointsAtFileLineAndField(t *testing.T) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	for _, r := range []struct{ from, to string }{
		{"  partitions: 12", "  partitions: twelve"},
		{"    inactivity_window: 14d", "    inactivity_window: two weeks"},
		{"types: [install, reinstall, first_purchase, purchase]", "types: [install, teleport]"},
		{"{partner_event}&click_id", "{partner_evnt}&click_id"},
		{"apps: [com.example.game]", "apps: [com.example.gaem]"},
	} {
		if !strings.Contains(text, r.from) {
			t.Fatalf("example no longer contains %q", r.from)
		}
		text = strings.Replace(text, r.from, r.to, 1)
	}
	file := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	lineOf := func(s string) string {
		for i, l := range strings.Split(text, "\n") {
			if strings.Contains(l, s) {
				return file + ":" + strconv.Itoa(i+1) + ": "
			}
		}
		t.Fatalf("no line with %q", s)
		return ""
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check-config", file}, &environment{stdout: &stdout, stderr: &stderr})
	if code == 0 {
		t.Fatal("a broken config passed")
	}
	for _, want := range []string{
		lineOf("partitions: twelve") + "kafka.partitions:",
		lineOf("inactivity_window: two weeks") + "apps[0].inactivity_window:",
		"sink.partners[0].rules[0].types",
		"teleport",
		"partner_evnt",
		"unknown app \"com.example.gaem\"",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("missing %q in:\n%s", want, stderr.String())
		}
	}
}
