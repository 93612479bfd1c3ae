// Package schemas holds postbackd's wire types and their encodings: the raw
// click and app event, the normalized device-stream record, the user-stream
// event and the classified record, as Go types, as Avro schemas (.avsc files
// embedded in the binary) and as the JSON form of CLASSIFICATION.md.
package schemas
