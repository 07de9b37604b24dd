package bbapi

// FakeClock and NewFakeClock give the external tests (package bbapi_test, which run the
// client against the emulator) the same fake clock as the internal ones: sleeping advances
// it, so retries cost no real time and the emulator's rate-limit window and token expiry
// move with it.
type FakeClock = fakeClock

var NewFakeClock = newFakeClock

// TestExplain is apierr.Explain, set by explain_test.go (package bbapi_test): apierr
// imports bbapi, so the tests inside bbapi reach the words for an error through it.
var TestExplain func(error) (int, []string, bool)

// codeOf is the exit code apierr gives err itself (0: no opinion).
func codeOf(err error) int {
	c, _, _ := TestExplain(err)
	return c
}

// hintsOf are the hints apierr gives err itself.
func hintsOf(err error) []string {
	_, h, _ := TestExplain(err)
	return h
}
