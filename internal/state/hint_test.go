package state

// hintsOf returns the hints of the first error in the chain that has any (for tests).
func hintsOf(err error) []string {
	for e := err; e != nil; {
		if h, ok := e.(interface{ Hints() []string }); ok {
			return h.Hints()
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return nil
		}
		e = u.Unwrap()
	}
	return nil
}
