// Package rotate is the engine of `bbkey rotate`: it replaces an account key, or an
// access key on every repository and project it is on, with a fresh one, proven before
// the old one is revoked. The new key's steps (generate, upload, prove) are the one
// provisioning pipeline (internal/provision); around it, every step is recorded in the
// rotation journal (internal/state) before the next starts, so a run that finds an
// unfinished journal first rolls that rotation back (before the proof) or finishes it
// (after). The steps and their order are in docs/rotate.md; the order keeps the ssh
// config naming, at every instant, a file whose key Bitbucket accepts: the successor is
// made at P.next and takes the fixed name P only once proven, and the old pair is moved
// (keys.Retire) only while nothing names it.
//
// The test hooks BBKEY_TEST_CRASH_AFTER and BBKEY_TEST_PANIC_AFTER=<step> (read only by
// a bbkey built with -tags bbkey_e2e) stop the process right after that step's journal
// write, so the end-to-end tests can kill a rotation at every boundary.
package rotate
