//go:build integration

package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An id that starts with '-' (KAFKA_CLUSTER_ID, or an old state) must
// format too: format gets --cluster-id=ID.
func TestIntegrationKafkaShFormatsALeadingDashClusterID(t *testing.T) {
	if os.Getenv("KAFKA_BROKERS") == "" && os.Getenv("CI") != "true" {
		t.Skip("KAFKA_BROKERS not set: integration tests need the Kafka tools; run `make test-integration`")
	}
	state := filepath.Join(t.TempDir(), "kafka")
	const id = "-AAAAAAAAAAAAAAAAAAAAA"
	cmd := exec.Command("bash", "-c", `source ./kafka.sh && mkdir -p "$state/logs" "$state/data" &&
		write_config 1 2 && ensure_tools && resolve_libs && format_storage "$1"`, "bash", id)
	cmd.Env = append(os.Environ(), "KAFKA_STATE_DIR="+state)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("format: %v\n%s", err, out)
	}
	meta, err := os.ReadFile(filepath.Join(state, "data", "meta.properties"))
	if err != nil || !strings.Contains(string(meta), "cluster.id="+id) {
		t.Fatalf("meta.properties: %v\n%s", err, meta)
	}
}
