// Package config loads postbackd's YAML configuration file: Kafka
// connection, topic names, state directory, per-app classification windows
// and the sink's section (parsed by sinks/partner). Every problem is
// reported with the file, line and field it is at, and all problems are
// reported at once, so an operator fixes a file in one pass.
//
// # Decisions
//
// Where issue 10 (check-config never panics, and catches what run refuses)
// left the how open:
//
//   - A file that is not YAML (a syntax error, an unknown alias, binary
//     data, nesting too deep) gives a nil Config and exactly one problem:
//     there is no document to check further, and callers must not try.
//   - Deep nesting is refused by yaml.v3 itself (10000 levels, flow and
//     block alike) before the strict decoder sees the document; the
//     decoder's own recursion follows the Go types, not the document, so
//     it is bounded anyway. Tests pin yaml.v3's limit at 100k levels, so an
//     upgrade that dropped it would fail them.
//   - Binary data is named only once yaml.v3 has refused the file (NUL, a
//     C0 control, invalid UTF-8): a file yaml.v3 reads, UTF-16 with its
//     BOM included, is never refused for its bytes.
//   - Load reads at most MaxFileBytes (4 MiB): a wrong path (a log, a disk
//     image, /dev/zero) fails with a message instead of filling memory.
//   - A second YAML document is a problem, not ignored: its settings would
//     silently not apply.
//   - A problem with no known line prints as "file: field: message", not
//     "file:0:".
//   - Each problem is a *FieldError; the ones with a cause callers test
//     for wrap a sentinel (ErrSyntax, ErrNotText, ErrTooLarge, and
//     sinks/partner's ErrMissingSecret, ErrForbiddenAddress), reachable
//     with errors.Is through Problems.
package config
