package testkit_test

import (
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
)

// TestScenarioCopiesMatchOriginals: the module's copy of the replay
// scenarios is shared/scenarios, byte for byte.
func TestScenarioCopiesMatchOriginals(t *testing.T) {
	testkit.CheckScenarioCopies(t, testkit.ScenarioDir())
}
