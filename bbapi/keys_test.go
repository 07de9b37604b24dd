package bbapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyStore is a tiny stateful user-key endpoint: enough to show a POST that landed
// behind a 503 being reconciled.
type keyStore struct {
	mu   sync.Mutex
	keys []map[string]any
}

func (s *keyStore) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"values": s.keys})
}

func (s *keyStore) add(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var in struct{ Key, Label string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	fp, err := FingerprintOf(in.Key)
	if err != nil {
		bbError(w, 400, "invalid key")
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k["fingerprint"] == bitbucketFingerprint(fp) {
			writeJSON(w, 400, map[string]any{"type": "error", "error": map[string]any{"message": "Someone has already added that SSH key.", "fields": map[string]any{"key": []string{"Someone has already added that SSH key."}}}})
			return nil, false
		}
	}
	uuid := fmt.Sprintf("%08d-0000", len(s.keys)+1)
	k := map[string]any{
		"type": "ssh_key", "uuid": "{" + uuid + "}", "key": in.Key, "label": in.Label,
		"fingerprint": bitbucketFingerprint(fp), "created_on": "2026-11-22T12:00:00.123456+00:00",
		"expires_on": nil, "last_used": nil,
		"links": map[string]any{"self": map[string]any{"href": "http://" + r.Host + basePath + "/users/%7Bme%7D/ssh-keys/" + uuid}},
	}
	s.keys = append(s.keys, k)
	return k, true
}

func TestSSHKeyAddReconcilesALandedPost(t *testing.T) {
	e := newEnv(t, &APIToken{Email: "me@example.com", Token: "api-token-value"})
	st := &keyStore{}
	var posts atomic.Int32
	e.handle("GET /users/{u}/ssh-keys", st.list)
	e.handle("POST /users/{u}/ssh-keys", func(w http.ResponseWriter, r *http.Request) {
		k, ok := st.add(w, r)
		if !ok {
			return
		}
		if posts.Add(1) == 1 {
			w.WriteHeader(503) // stored, but the gateway lost the answer
			return
		}
		writeJSON(w, 201, k)
	})
	key, fp := newPublicKey(t, "me@laptop")
	got, resp, err := e.client.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: key, Label: "bbkey:me:2026-11-22"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Reconciled || got.SHA256() != fp || got.Label != "bbkey:me:2026-11-22" || len(st.keys) != 1 {
		t.Errorf("reconciled=%v key=%+v stored=%d", resp.Reconciled, got, len(st.keys))
	}

	// Without an ambiguous attempt, "already added" is an error for Add…
	_, _, err = e.client.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: key})
	if !IsDuplicateKey(err) {
		t.Errorf("Add of a present key: err = %v", err)
	}
	// …and success for AddOrGet, which finds it on this account.
	got, resp, err = e.client.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: key, OrGet: true})
	if err != nil || !resp.Reconciled || got.UUID != "{00000001-0000}" {
		t.Errorf("AddOrGet: %+v %v", got, err)
	}
}

func TestAddOrGetKeyOnAnotherAccount(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("GET /repositories/{ws}/{repo}/deploy-keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"values": []any{}})
	})
	e.handle("POST /repositories/{ws}/{repo}/deploy-keys", func(w http.ResponseWriter, r *http.Request) {
		bbError(w, 400, "Someone has already added that access key to this repository.")
	})
	key, _ := newPublicKey(t, "ci")
	_, resp, err := e.client.RepoKeys("ws", "repo").Add(bg(), AddDeployKeyOptions{Key: key, OrGet: true})
	if !IsDuplicateKey(err) || resp.Reconciled {
		t.Errorf("err=%v reconciled=%v", err, resp.Reconciled)
	}
}

func TestAddRejectsInvalidKeyLocally(t *testing.T) {
	e := newEnv(t, nil)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	if _, _, err := e.client.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: "ssh-ed25519 garbage"}); err == nil {
		t.Error("invalid key accepted")
	}
}

func TestSSHKeyAddSendsExpiryAsQuery(t *testing.T) {
	e := newEnv(t, nil)
	var query, body string
	e.handle("POST /users/{u}/ssh-keys", func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(201)
		io.WriteString(w, `{"uuid":"{k}","key":"x","expires_on":"2027-02-20T00:00:00+00:00"}`)
	})
	key, _ := newPublicKey(t, "c")
	exp := time.Date(2027, 2, 20, 1, 0, 0, 0, time.FixedZone("CET", 3600))
	k, _, err := e.client.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: key + "\n", Label: "l", ExpiresOn: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if query != "expires_on=2027-02-20T00%3A00%3A00.000Z" {
		t.Errorf("query = %s", query)
	}
	var sent map[string]string
	if err := json.Unmarshal([]byte(body), &sent); err != nil || sent["key"] != key || sent["label"] != "l" {
		t.Errorf("body = %s", body)
	}
	if !k.ExpiresOn.Equal(time.Date(2027, 2, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expires_on = %v", k.ExpiresOn)
	}
}

func TestKeySelfLinkPreferred(t *testing.T) {
	e := newEnv(t, nil)
	var paths []string
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.EscapedPath())
		w.WriteHeader(204)
	})
	self := e.srv.URL + basePath + "/users/%7Bowner%7D/ssh-keys/b15b6026"
	k := &SSHKey{UUID: "{b15b6026}", Owner: &Account{UUID: "{owner}"}, Links: SelfLinks{Self: Link{Href: self}}}
	if _, err := e.client.SSHKeys.DeleteKey(bg(), k); err != nil {
		t.Fatal(err)
	}
	// A self link to another host is ignored in favour of the path built from ids.
	k.Links.Self.Href = "https://evil.example/2.0/users/x/ssh-keys/y"
	if _, err := e.client.SSHKeys.DeleteKey(bg(), k); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.RepoKeys("acme", "api").Delete(bg(), 42); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ProjectKeys("acme", "OPS").Delete(bg(), 9); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DELETE " + basePath + "/users/%7Bowner%7D/ssh-keys/b15b6026",
		"DELETE " + basePath + "/users/%7Bowner%7D/ssh-keys/%7Bb15b6026%7D",
		"DELETE " + basePath + "/repositories/acme/api/deploy-keys/42",
		"DELETE " + basePath + "/workspaces/acme/projects/OPS/deploy-keys/9",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	if _, err := e.client.ProjectKeys("acme", "OPS").Delete(bg(), 0); err == nil || len(paths) != len(want) {
		t.Error("an access key without an id was deleted")
	}
}

func TestDeployKeyDecoding(t *testing.T) {
	var a, b DeployKey
	if err := json.Unmarshal([]byte(`{"id":123,"key":"k","created_on":"2018-08-15T23:50:59.993890+00:00","last_used":null}`), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"id":"7","added_on":"2026-11-22T10:00:00Z","repository":{"full_name":"ws/r"}}`), &b); err != nil {
		t.Fatal(err)
	}
	if a.ID != 123 || a.AddedOn.Year() != 2018 || !a.LastUsed.IsZero() {
		t.Errorf("a = %+v", a)
	}
	if b.ID != 7 || b.AddedOn.Hour() != 10 || b.Repository.FullName != "ws/r" {
		t.Errorf("b = %+v", b)
	}
	var p DeployKey
	if err := json.Unmarshal([]byte(`{"key":"k","added_on":"2026-01-02","project":{"key":"OPS"}}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.AddedOn.Month() != time.January || p.Project.Key != "OPS" {
		t.Errorf("p = %+v", p)
	}
	var bad DeployKey
	if err := json.Unmarshal([]byte(`{"id":"x1"}`), &bad); err == nil {
		t.Error("non-numeric id accepted")
	}
}

func TestFingerprints(t *testing.T) {
	key, fp := newPublicKey(t, "c")
	got, err := FingerprintOf(key)
	if err != nil || got != fp {
		t.Fatalf("FingerprintOf = %q, %v; want %q", got, err, fp)
	}
	raw := bitbucketFingerprint(fp)
	for _, form := range []string{fp, raw, raw + "=", "sha256:" + raw, " " + fp + " "} {
		if NormalizeFingerprint(form) != fp {
			t.Errorf("NormalizeFingerprint(%q) = %q", form, NormalizeFingerprint(form))
		}
	}
	for _, bad := range []string{"", "SHA256:", "MD5:aa:bb", "SHA256:abc", "!!!!"} {
		if NormalizeFingerprint(bad) != "" {
			t.Errorf("NormalizeFingerprint(%q) accepted", bad)
		}
	}
	k := &SSHKey{Fingerprint: raw}
	if k.SHA256() != fp || !SameFingerprint(raw, fp) {
		t.Error("reported fingerprint not normalised")
	}
	if (&SSHKey{Key: key}).SHA256() != fp || (&DeployKey{Key: key}).SHA256() != fp {
		t.Error("fingerprint not computed from the key")
	}
}
