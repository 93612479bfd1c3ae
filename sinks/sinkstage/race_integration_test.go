//go:build integration && race

package sinkstage_test

// testCompression is the codec of the tests' producers. Under the race
// detector lz4's 4 MiB frame buffers, allocated per produce and per fetch,
// cost more than a core in shadow-memory upkeep (80% of the fault test's
// CPU profile, in __tsan::MemoryAccessRangeT), which starves the partners'
// loopback servers in the same process: throughput figures would measure
// that, not the sink. snappy's small buffers do not.
const testCompression = "snappy"
