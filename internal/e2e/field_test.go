package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestOutputWriteFailureIsAnError: stdout on a full disk (`bbkey --json audit > report.json`
// in a cron job, say). A command whose output could not be written must not exit 0: the
// caller would take the empty or cut-off file for the answer.
func TestOutputWriteFailureIsAnError(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/dev/full (a file whose every write fails with ENOSPC) is Linux's")
	}
	w := NewWorld(t)
	rotateSetup(t, w)
	for _, args := range [][]string{{"--json", "list"}, {"rotate", "--status"}} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bbkeyBin, args...)
		cmd.Dir, cmd.Env, cmd.Stdout = w.Home.Dir, w.Env, full
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err = cmd.Run()
		full.Close()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("bbkey %s > /dev/full: %v (want exit 1)\n%s", strings.Join(args, " "), err, errb.String())
		}
		if !strings.Contains(errb.String(), "bbkey: error: ") || !strings.Contains(errb.String(), "no space left on device") {
			t.Errorf("bbkey %s > /dev/full does not say the output was lost:\n%s", strings.Join(args, " "), errb.String())
		}
	}
}
