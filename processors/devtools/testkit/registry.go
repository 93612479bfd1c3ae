package testkit

import (
	"os"
	"testing"
)

// EnvSchemaRegistry names the variable holding the base URL of a
// Confluent-compatible schema registry for integration tests; `make test`
// sets it (scripts/with-registry.sh starts Apicurio Registry).
const EnvSchemaRegistry = "SCHEMA_REGISTRY_URL"

// SchemaRegistry returns $SCHEMA_REGISTRY_URL. Without it the test is
// skipped, and under CI (CI=true) it fails: CI must not pass by skipping.
func SchemaRegistry(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvSchemaRegistry)
	if u == "" {
		const how = "run `make test-integration`, or export $(scripts/registry.sh up)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not set under CI: %s", EnvSchemaRegistry, how)
		}
		t.Skipf("%s not set: %s", EnvSchemaRegistry, how)
	}
	return u
}
