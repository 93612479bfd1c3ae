package normalize

// Reject says why a raw record was refused: the field at fault ("" when the
// record as a whole is unreadable) and a short lower-case reason. It is
// what goes into the dead-letter record. Match it with errors.As.
type Reject struct {
	Field  string
	Reason string
}

func (r *Reject) Error() string {
	if r.Field == "" {
		return r.Reason
	}
	return "field " + r.Field + ": " + r.Reason
}

// Is makes errors.Is(err, ErrRejected) true for every reject.
func (r *Reject) Is(target error) bool { return target == ErrRejected }

func reject(field, reason string) *Reject { return &Reject{Field: field, Reason: reason} }
