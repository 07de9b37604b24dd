// Package rotate is the engine of `bbkey rotate`: it replaces an account key, or an
// access key on every repository and project it was added to, with a fresh one, and
// proves the successor before it lets go of the predecessor. It runs unattended from a
// timer for years, so every step is idempotent and recorded in the rotation journal
// (internal/state) before the next one starts; a run that finds an unfinished journal
// finishes or rolls back that rotation before it does anything else.
//
// # The order, and why
//
// The key file name is fixed (~/.ssh/bbkey_<name>_ed25519, P below), and the ssh config
// must at every instant name a file holding a key that Bitbucket accepts: a run killed
// anywhere leaves a working `git fetch`. So the successor is made beside the old key and
// moved into place only once it is proven, and the config is pointed at whichever file
// holds a working key before anything is moved:
//
//	begin         journal created (old fingerprint, path and Bitbucket ids)
//	generate      successor written to P.next (0600, O_EXCL); journal: its fingerprint
//	upload        successor added to the account, or to every target the old key has
//	prove         SSH handshake with the successor (access keys: and `git ls-remote`
//	              on one target, through a private agent holding only the successor);
//	              on failure the successor is deleted again and the run exits 5
//	agent-add     successor loaded into the user's agent (skipped without one)
//	config-next   state and ssh config name P.next, the proven successor
//	move-old      old pair moved from P to ~/.ssh/bbkey/retired/<file>.<start>-<digest>
//	link-new      P.next hard-linked (else copied) to P: both names hold the successor
//	config-final  state and ssh config name P again; P.next removed
//	agent-remove  old key unloaded from the agent
//	revoke        old key deleted on Bitbucket (404 counts as done); exit 3 if it cannot
//	              be yet: the successor works, a re-run finishes the revoke
//	retire        retired pairs older than --keep-retired deleted; history written;
//	              journal removed
//
// generate, upload and prove are the one provisioning pipeline (internal/provision:
// the same steps setup and add-access-key take); the journal is written around it, from
// the pipeline's OnStep. Retiring the old key files is keys.Retire, remove's too.
//
// Before prove nothing the user relies on has changed, so an interrupted rotation is
// rolled back: the successor is deleted on Bitbucket (found by fingerprint when a crash
// hid its id) and P.next removed. After prove the successor is known to work, so an
// interrupted rotation is always finished. Between config-next and config-final the
// config names P.next, which exists until config-final has pointed the config back at
// P; the old pair is moved only while nothing names it. An old key bbkey did not name
// (one given with --key) is revoked on Bitbucket but its files are left where they are.
//
// # Test hook
//
// BBKEY_TEST_CRASH_AFTER=<step> (one of the step names above) makes the process exit
// with code 99 right after that step's journal write, so the end-to-end tests can kill a
// rotation at every boundary and check that a re-run converges. It is read only here and
// has no other effect.
package rotate
