package classify

// stateKey is app_id + "\x00" + id: the app comes first so that one app's
// keys sort together, and NUL cannot occur inside the ids of a JSON record
// that normalize accepted. app_id is never empty (the classifiers skip such
// a record), so no key begins with NUL: the runtime keeps its source marks
// under such a key.
func stateKey(appID, id string) string { return appID + "\x00" + id }

// appendStateKey appends stateKey(appID, id) to b.
func appendStateKey(b []byte, appID, id string) []byte {
	b = append(b, appID...)
	b = append(b, 0)
	return append(b, id...)
}
