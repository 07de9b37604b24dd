//go:build bbkey_bench_sequential

package setup

// overlapKeyGen is false in bench/'s comparison build: the KDF runs after the credential
// check, as before the overlap.
const overlapKeyGen = false
