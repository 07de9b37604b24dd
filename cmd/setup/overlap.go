//go:build !bbkey_bench_sequential

package setup

// overlapKeyGen runs the new key's KDF during the credential check. bench/ builds a
// second bbkey with -tags bbkey_bench_sequential, where it is false, to time the order
// one after the other beside it.
const overlapKeyGen = true
