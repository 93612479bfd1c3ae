//go:build integration && !race

package sinkstage_test

// testCompression is the codec of the tests' producers: the default (lz4)
// as in production, when the race detector does not make it costly.
const testCompression = ""
