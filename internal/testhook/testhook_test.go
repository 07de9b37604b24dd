package testhook

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Without the bbkey_e2e tag nothing reads the hooks, whatever the environment says;
// a test of the code they stop turns them on with On.
func TestHooksOffWithoutTheTag(t *testing.T) {
	if On.Load() {
		t.Skip("built with -tags bbkey_e2e: the hooks are on")
	}
	dir := t.TempDir()
	env := map[string]string{PauseEnv: "x:y", PauseDirEnv: dir, "BBKEY_TEST_CRASH_AFTER": "upload"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if v, ok := Lookup(lookup, "BBKEY_TEST_CRASH_AFTER"); ok {
		t.Errorf("Lookup read %q without the tag", v)
	}
	os.WriteFile(filepath.Join(dir, "x-y.resume"), nil, 0o600)
	Pause(context.Background(), lookup, "x:y")
	if _, err := os.Stat(filepath.Join(dir, "x-y.paused")); err == nil {
		t.Error("Pause stopped without the tag")
	}

	On.Store(true)
	t.Cleanup(func() { On.Store(false) })
	if v, ok := Lookup(lookup, "BBKEY_TEST_CRASH_AFTER"); !ok || v != "upload" {
		t.Errorf("Lookup once On = %q, %v", v, ok)
	}
	Pause(context.Background(), lookup, "x:y") // resumed already: returns at once
	if _, err := os.Stat(filepath.Join(dir, "x-y.paused")); err != nil {
		t.Errorf("Pause did not stop once enabled: %v", err)
	}
}
