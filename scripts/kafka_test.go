// Package scripts holds tests of the shell scripts next to them.
package scripts

import (
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"
)

// kafka.sh formats storage with a random cluster id; one in 64 started
// with '-' and `StorageTool format -t -xyz` took it for an option and
// failed. 500 draws of the old generator all miss it with odds of 4e-4.
func TestNewClusterIDNeverStartsWithDash(t *testing.T) {
	out, err := exec.Command("bash", "-c", `source ./kafka.sh && for _ in $(seq 500); do new_cluster_id; done`).Output()
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != 500 {
		t.Fatalf("%d ids, want 500", len(ids))
	}
	dashes := 0
	for _, id := range ids {
		if strings.HasPrefix(id, "-") {
			t.Fatalf("cluster id %q starts with '-'", id)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("cluster id %q is not 16 bytes of base64url: %v", id, err)
		}
		dashes += strings.Count(id, "-")
	}
	if dashes == 0 {
		t.Fatal("no '-' anywhere in 500 ids: not base64url")
	}
}
