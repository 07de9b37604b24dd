package bbapi

// FakeClock and NewFakeClock give the external tests (package bbapi_test, which run the
// client against the emulator) the same fake clock as the internal ones: sleeping advances
// it, so retries cost no real time and the emulator's rate-limit window and token expiry
// move with it.
type FakeClock = fakeClock

var NewFakeClock = newFakeClock
