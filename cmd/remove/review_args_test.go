package remove

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/keys"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/state"
)

// Without KEY (or with two) the error says what KEY is and where to find one, not
// cobra's "accepts 1 arg(s), received 0".
func TestKeyArgument(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}} {
		ios, _, _, _ := iostreamstest.Test()
		f := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{}}
		cmd := NewCmdRemove(f, func(*Options) error { t.Fatal("ran without one KEY"); return nil })
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "KEY") || strings.Contains(err.Error(), "arg(s)") {
			t.Errorf("args %q: err = %v (exit %d)", args, err, apierr.ExitCode(err))
		}
		if h := apierr.Hints(err); len(h) == 0 || !strings.Contains(strings.Join(h, " "), "bbkey list") {
			t.Errorf("args %q: hints %q, want one pointing at bbkey list", args, h)
		}
	}
}

// elsewhere finds the other Bitbucket where the state still has a key: an account key,
// or an access key with places left; the Bitbucket asked about never counts.
func TestElsewhere(t *testing.T) {
	const dcURL = "https://bitbucket.example.com"
	fpA, fpB := "SHA256:"+strings.Repeat("A", 43), "SHA256:"+strings.Repeat("B", 43)
	st := &state.State{Accounts: map[string]*state.Account{"ada": {Fingerprint: fpA}}}
	st.EnsureServer(dcURL).AccessKeys["ci"] = &state.AccessKey{Fingerprint: fpB}
	if srv, ok := elsewhere(st, dcURL, fpA); !ok || srv != "" {
		t.Errorf("Cloud's account key from the server: %q %v", srv, ok)
	}
	if _, ok := elsewhere(st, "", fpA); ok {
		t.Error("the Bitbucket asked about counted")
	}
	if _, ok := elsewhere(st, "", fpB); ok {
		t.Error("an access key with no places left counted")
	}
	st.ServerOf(dcURL).AccessKeys["ci"].Targets = []state.Target{{Kind: state.TargetProject, Slug: "OPS"}}
	if srv, ok := elsewhere(st, "", fpB); !ok || srv != dcURL {
		t.Errorf("the server's access key from Cloud: %q %v", srv, ok)
	}
}

// A key recorded only on Cloud, asked for on a server with --everywhere, is not found
// there; the hint says the state records it on Cloud and names --server cloud (Cloud's
// server is "", which once hid the hint).
func TestLocalKeyRecordedOnCloudOnly(t *testing.T) {
	sshDir := t.TempDir()
	k, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(sshDir, "bbkey_ada_ed25519"), Comment: "bbkey:ada", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{Accounts: map[string]*state.Account{"ada": {Fingerprint: k.Fingerprint}}}
	c, err := dc.NewClient("https://bitbucket.example.com", dc.Token{Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b := backend.NewDataCenter(c, backend.DataCenterOptions{})
	sel, err := parseSelector("ada")
	if err != nil {
		t.Fatal(err)
	}
	fp, err := localKey(st, b, sshDir, sel)
	if fp != "" || err == nil {
		t.Fatalf("localKey = %q, %v; want no key and an error", fp, err)
	}
	if h := strings.Join(apierr.Hints(err), " "); !strings.Contains(h, "records it on Bitbucket Cloud") || !strings.Contains(h, "--server "+settings.CloudServer) {
		t.Errorf("the hint does not point at Cloud: %v: %q", err, h)
	}
}
