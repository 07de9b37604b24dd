package state

// hintError carries the hints bbkey prints under an error (cmdutil.Hints reads any error
// with a Hints method). state does not import cmdutil, so the Factory may hand out state.
type hintError struct {
	err   error
	hints []string
}

func withHint(err error, hints ...string) error { return &hintError{err, hints} }

func (e *hintError) Error() string   { return e.err.Error() }
func (e *hintError) Unwrap() error   { return e.err }
func (e *hintError) Hints() []string { return e.hints }
