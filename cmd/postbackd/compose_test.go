package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
)

// TestDockerCompose checks docker-compose.yml without a Docker engine (the
// project's machines have none): it parses, every postbackd service runs
// known stages with a config that loads, waits for the broker, and keeps
// its state where scaling the service (--scale classify=3) gives each copy
// its own: an anonymous volume, never a named one that copies would share
// (two copies cannot open one Badger store).
func TestDockerCompose(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if _, ok := doc.Services["kafka"]; !ok {
		t.Fatal("no kafka service")
	}
	ran := map[string]bool{}
	for name, svc := range doc.Services {
		if len(svc.Command) == 0 || svc.Command[0] != "run" {
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		cfgPath := fs.String("config", "", "")
		stages := fs.String("stages", "", "")
		if err := fs.Parse(svc.Command[1:]); err != nil {
			t.Errorf("%s: command %v: %v", name, svc.Command, err)
			continue
		}
		for _, s := range strings.Split(*stages, ",") {
			if !slices.Contains(pipeline.StageNames, s) {
				t.Errorf("%s: unknown stage %q", name, s)
			}
			ran[s] = true
		}
		if _, ok := svc.DependsOn["kafka"]; !ok {
			t.Errorf("%s: does not wait for kafka", name)
		}
		stateDir := svc.Environment[config.EnvStateDir]
		if stateDir == "" {
			t.Errorf("%s: no %s", name, config.EnvStateDir)
		}
		var stateMounted bool
		for _, v := range svc.Volumes {
			src, dst, bound := strings.Cut(v, ":")
			switch {
			case !bound && src == stateDir:
				stateMounted = true // anonymous: one per container
			case bound && strings.HasPrefix(dst, stateDir):
				t.Errorf("%s: state dir %s mounted from %q, which every copy of a scaled service would share", name, stateDir, src)
			case bound && strings.HasPrefix(dst, *cfgPath):
				if _, err := config.Load(filepath.Join("../..", src)); err != nil {
					t.Errorf("%s: config %s: %v", name, src, err)
				}
			}
		}
		if !stateMounted {
			t.Errorf("%s: state dir %s is not a volume", name, stateDir)
		}
	}
	for _, s := range pipeline.StageNames {
		if !ran[s] {
			t.Errorf("no service runs stage %s", s)
		}
	}
	if len(doc.Volumes) > 0 {
		t.Errorf("named volumes %v: a scaled service's copies would share them", doc.Volumes)
	}
}
