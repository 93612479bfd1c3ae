package schemas

import "slices"

// sortedKeys returns m's keys in byte order: encodings of a params map must
// be deterministic so that replays produce byte-identical records.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
