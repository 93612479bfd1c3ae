// Package replay is `postbackd replay`: it reads input records as JSON
// lines in stream order and writes the classified records as JSON lines,
// running the same normalize and classify code as the streaming stages,
// with the device and user state in Badger stores (in a temporary
// directory unless Config.StateDir is set). Per input event the output
// holds its device-level records, then its user-level records, which is
// the order of the scenario files.
package replay
