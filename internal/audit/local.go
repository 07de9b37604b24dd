package audit

import (
	"context"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/inventory"
)

// Local returns the fingerprints this machine's `bbkey list` knows without asking
// Bitbucket: key files in the ssh directory, the agent's keys, and the keys bbkey's
// state records (account and access keys, on Cloud and every Data Center server), as
// "SHA256:…". Warnings say what could not be
// looked at.
func Local(ctx context.Context, src inventory.Source) (map[string]bool, []string) {
	src.Remotes = nil
	keys, warnings, _ := inventory.Gather(ctx, src)
	out := map[string]bool{}
	for _, k := range keys {
		out[bbapi.NormalizeFingerprint(k.Fingerprint)] = true
	}
	if st := src.State; st != nil {
		servers := []string{""} // Cloud, then every Data Center server the state holds keys on
		for url := range st.Servers {
			servers = append(servers, url)
		}
		for _, server := range servers {
			for _, a := range st.AccountsOf(server) {
				out[bbapi.NormalizeFingerprint(a.Fingerprint)] = true
			}
			for _, a := range st.AccessKeysOf(server) {
				out[bbapi.NormalizeFingerprint(a.Fingerprint)] = true
			}
		}
	}
	delete(out, bbapi.NormalizeFingerprint(""))
	return out, warnings
}
