package doctor

// Checks returns every check in report order, with timeouts from t: the credential, the
// secrets on disk, the key, the agent, the ssh config, the network, the remotes, and the
// proof that ties them together.
func Checks(t Timeouts) []Check {
	if t == (Timeouts{}) {
		t = DefaultTimeouts
	}
	return []Check{
		{ID: "credential", Title: "Bitbucket credential", Timeout: t.API + t.Local, Run: checkCredential},
		{ID: "scopes", Title: "credential scopes", Deps: []string{"credential"}, Run: checkScopes},
		{ID: "secrets", Title: "leaked secrets", Run: checkSecrets},
		{ID: "key-files", Title: "key files", Run: checkKeyFiles},
		{ID: "key-permissions", Title: "key permissions", Run: checkKeyPermissions},
		{ID: "key-passphrase", Title: "key passphrase", Run: checkKeyPassphrase},
		{ID: "key-age", Title: "key age", Run: checkKeyAge},
		{ID: "key-on-bitbucket", Title: "key on Bitbucket", Deps: []string{"credential"}, Timeout: 2 * t.API, Run: checkKeyOnBitbucket},
		{ID: "agent", Title: "ssh agent", Run: checkAgent},
		{ID: "agent-key", Title: "key in the agent", Deps: []string{"agent"}, Run: checkAgentKey},
		{ID: "git-ssh", Title: "git's ssh", Run: checkGitSSH},
		{ID: "ssh-include", Title: "ssh config Include line", Deps: []string{"key-files"}, Run: checkSSHInclude},
		{ID: "ssh-hosts", Title: "bbkey's ssh config", Deps: []string{"key-files"}, Run: checkSSHHosts},
		{ID: "ssh-resolve", Title: "what ssh resolves", Deps: []string{"ssh-include", "ssh-hosts"}, Run: checkSSHResolve},
		{ID: "dns", Title: "DNS", Timeout: t.Network, Run: checkDNS},
		{ID: "altssh", Title: "fallback endpoint", Timeout: t.Network, Run: checkFallback},
		{ID: "tcp", Title: "TCP to the endpoint", Deps: []string{"dns", "altssh"}, Timeout: t.Network, Run: checkTCP},
		{ID: "pinned-host-keys", Title: "pinned host keys", Deps: []string{"key-files"}, Run: checkPinnedHostKeys},
		{ID: "host-key", Title: "endpoint host key", Deps: []string{"tcp"}, Timeout: t.Network, Run: checkHostKey},
		{ID: "retired-host-keys", Title: "retired host keys", Run: checkRetiredHostKeys},
		{ID: "remotes", Title: "remotes", Run: checkRemotes},
		{ID: "schedule", Title: "rotation timer", Run: checkSchedule},
		{ID: "proof", Title: "SSH proof", Deps: []string{"host-key", "key-on-bitbucket"}, Timeout: 2 * t.Proof, Run: checkProof},
		// Each Data Center server bbkey's state records keys on, and the selected one.
		{ID: "dc-token", Title: "Data Center token", Timeout: 2 * t.API, Run: checkDCToken},
		{ID: "dc-host-key", Title: "Data Center host key", Deps: []string{"dc-token"}, Timeout: t.API + t.Network, Run: checkDCHostKey},
		{ID: "dc-ssh-host", Title: "Data Center Host block", Run: checkDCHostBlock},
		{ID: "dc-proof", Title: "Data Center SSH proof", Deps: []string{"dc-host-key"}, Timeout: 2 * t.Proof, Run: checkDCProof},
	}
}

// cloudOnly are the checks that ask Bitbucket Cloud or its SSH endpoint: Run leaves them
// out when a Data Center server is selected and the state records no Cloud key (such a
// machine need not reach bitbucket.org).
var cloudOnly = []string{"credential", "scopes", "key-on-bitbucket", "dns", "altssh", "tcp", "pinned-host-keys", "host-key", "retired-host-keys", "proof"}
