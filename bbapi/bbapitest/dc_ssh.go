package bbapitest

import (
	"errors"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Texts of the Data Center SSH side. The "not found" text is the live server's; the
// refused push is this package's own wording.
const (
	dcSSHNoRepo   = "Repository not found\nThe requested repository does not exist, or you do not have permission to access it.\n"
	dcSSHReadOnly = "You are not permitted to push to this repository: the key may read it but not write to it.\n"
	dcSSHGreeting = "Bitbucket Data Center (bbapitest): shell access is not supported; use git over SSH.\n"
)

// dcSSHAuth accepts user git with a live user key of an existing user, or an access key
// granted somewhere; neither may have expired. Callers hold s.mu.
func (s *Server) dcSSHAuth(blob string) (*ssh.Permissions, error) {
	k := s.dc.keyByBlob(blob)
	switch {
	case k == nil:
		return nil, errors.New("unknown key")
	case k.expired(s.now()):
		return nil, errors.New("key expired")
	case k.owner == nil && !s.dc.granted(k.ID):
		return nil, errors.New("access key granted nowhere")
	}
	return &ssh.Permissions{Extensions: map[string]string{"key": blob}}, nil
}

// dcGreeting answers a shell request. Callers hold s.mu.
func (s *Server) dcGreeting(blob string) string {
	if k := s.dc.keyByBlob(blob); k != nil {
		s.dcTouch(k)
	}
	return dcSSHGreeting
}

func (s *Server) dcTouch(k *dcKey) {
	now := s.now()
	k.LastAuthenticated = &now
}

// dcGitTarget decides what a key may do on ~user/repo or proj/repo: a user key reads what
// its user reads and writes what its user writes; an access key reads with REPO_READ or
// PROJECT_READ and also writes with REPO_WRITE or PROJECT_WRITE.
func (s *Server) dcGitTarget(blob, service, projectKey, slug string) (dir, denial string, err error) {
	s.mu.Lock()
	k := s.dc.keyByBlob(blob)
	r, ok := s.dc.repo(projectKey, slug)
	var perm Permission
	if k != nil && ok && !k.expired(s.now()) {
		perm = s.dc.keyPerm(k, r)
	}
	switch {
	case perm < PermRead:
		s.mu.Unlock()
		return "", dcSSHNoRepo, nil
	case service == "receive-pack" && perm < PermWrite:
		s.mu.Unlock()
		return "", dcSSHReadOnly, nil
	}
	s.dcTouch(k)
	s.mu.Unlock()
	dir, err = s.dcEnsureRepo(r)
	return dir, "", err
}

// dcSSHPath is the path of a repository in a Data Center SSH URL: "proj/slug.git" with
// the project key in lower case ("~user/slug.git" for a personal repository).
func dcSSHPath(r *dcRepo) string {
	return strings.ToLower(r.project.key) + "/" + r.slug + ".git"
}

// SSHCloneURL is the SSH clone URL of a repository, as the server's clone links write
// it: ssh://git@127.0.0.1:PORT/proj/slug.git ("" if there is no such repository).
func (dc *DataCenter) SSHCloneURL(projectKey, slug string) string {
	dc.s.mu.Lock()
	r, ok := dc.s.dc.repo(projectKey, slug)
	dc.s.mu.Unlock()
	if !ok {
		return ""
	}
	return "ssh://git@" + dc.s.SSHEndpoint() + "/" + dcSSHPath(r)
}
