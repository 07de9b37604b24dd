package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// The sandbox's Data Center side (-datacenter).

// cloneSource is the bare repository the throw-away clone is made from, and the HTTPS
// origin it is given: what a user has before running bbkey.
func cloneSource(srv *bbapitest.Server) (bare, origin string, err error) {
	if !srv.IsDataCenter() {
		bare, err = srv.RepoDir(bbapitest.DefaultWorkspace, "api")
		return bare, "https://ada@bitbucket.org/acme/api.git", err
	}
	dc := srv.DataCenter()
	bare, err = dc.RepoDir(bbapitest.DCDefaultProject, "api")
	host := strings.TrimPrefix(dc.ServerURL(), "http://")
	return bare, "http://" + bbapitest.DCDefaultUser + "@" + host + "/scm/" + strings.ToLower(bbapitest.DCDefaultProject) + "/api.git", err
}

func serveMessageDataCenter(srv *bbapitest.Server, w io.Writer) {
	fmt.Fprintf(w, "sandbox: Bitbucket Data Center emulator at %s (SSH %s): user %s, project %s with repositories %s, personal repository ~%s/%s; Ctrl-C stops it\n",
		srv.DataCenter().ServerURL(), srv.SSHEndpoint(), bbapitest.DCDefaultUser, bbapitest.DCDefaultProject,
		strings.Join(bbapitest.DefaultRepos, ", "), strings.ToUpper(bbapitest.DCDefaultUser), bbapitest.DCDefaultPersonalRepo)
}

func reportDataCenter(srv *bbapitest.Server, w io.Writer) {
	dc := srv.DataCenter()
	keys := dc.UserKeys(bbapitest.DCDefaultUser)
	fmt.Fprintf(w, "sandbox: SSH keys of %s: %d\n", bbapitest.DCDefaultUser, len(keys))
	for _, k := range keys {
		fmt.Fprintf(w, "  SHA256:%s  %s  (expiry days: %d)\n", k.Fingerprint, k.Label, k.ExpiryDays)
	}
	for _, r := range bbapitest.DefaultRepos {
		for _, k := range dc.RepoAccessKeys(bbapitest.DCDefaultProject, r) {
			fmt.Fprintf(w, "sandbox: access key on %s/%s: SHA256:%s  %s  %s\n", bbapitest.DCDefaultProject, r, k.Fingerprint, k.Permission, k.Label)
		}
	}
	for _, k := range dc.ProjectAccessKeys(bbapitest.DCDefaultProject) {
		fmt.Fprintf(w, "sandbox: access key on project %s: SHA256:%s  %s  %s\n", bbapitest.DCDefaultProject, k.Fingerprint, k.Permission, k.Label)
	}
}
