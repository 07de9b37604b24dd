package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// accesskeyDoc is the --json document of add-access-key (docs/add-access-key.md).
type accesskeyDoc struct {
	DryRun    bool `json:"dry_run"`
	Bitbucket struct {
		Kind   string `json:"kind"`
		Server string `json:"server"`
	} `json:"bitbucket"`
	Key struct {
		Name        string `json:"name"`
		Path        string `json:"path"`
		PublicPath  string `json:"public_path"`
		Fingerprint string `json:"fingerprint"`
		Label       string `json:"label"`
		Created     bool   `json:"created"`
		Encrypted   bool   `json:"encrypted"`
		Agent       bool   `json:"agent"`
	} `json:"key"`
	Plan struct {
		Targets       int `json:"targets"`
		Done          int `json:"already_done"`
		Pending       int `json:"pending"`
		ListCalls     int `json:"list_calls"`
		Calls         int `json:"calls"`
		BudgetPerHour int `json:"budget_per_hour"`
	} `json:"plan"`
	Targets []accesskeyTarget `json:"targets"`
	Summary map[string]int    `json:"summary"`
	Missing []accesskeyTarget `json:"missing"`
	Stopped string            `json:"stopped"`
	Calls   int               `json:"calls"`
	SSH     *struct {
		Alias          string `json:"alias"`
		Port           int    `json:"port"`
		Config         string `json:"config"`
		ConfigFile     string `json:"config_file"`
		KnownHosts     string `json:"known_hosts"`
		KnownHostsFile string `json:"known_hosts_file"`
		Written        bool   `json:"written"`
		Remote         string `json:"remote"`
	} `json:"ssh"`
	Verify *struct {
		Target       string `json:"target"`
		Remote       string `json:"remote"`
		Read         bool   `json:"read"`
		PushRefused  bool   `json:"push_refused"`
		PushAccepted bool   `json:"push_accepted"`
		Message      string `json:"message"`
	} `json:"verify"`
	ChangedFiles []string `json:"changed_files"`
}

type accesskeyTarget struct {
	Target     string `json:"target"`
	Kind       string `json:"kind"`
	Status     string `json:"status"`
	KeyID      string `json:"key_id"`
	Error      string `json:"error"`
	Recorded   bool   `json:"recorded"`
	Permission string `json:"permission"`
}

// accesskeyDecode parses the JSON document of a run, failing the test when it is not one.
func accesskeyDecode(t *testing.T, r Result) accesskeyDoc {
	t.Helper()
	var d accesskeyDoc
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not the add-access-key JSON document: %v\n%s", err, r)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document\n%s", r)
	}
	return d
}

// accesskeyAddRepos adds repositories acme/r001… to the emulator until the workspace has
// total repositories (it starts with three), and returns every WS/SLUG.
func accesskeyAddRepos(t *testing.T, emu *bbapitest.Server, total int) []string {
	t.Helper()
	refs := make([]string, 0, total)
	for _, s := range bbapitest.DefaultRepos {
		refs = append(refs, bbapitest.DefaultWorkspace+"/"+s)
	}
	for i := 1; len(refs) < total; i++ {
		slug := fmt.Sprintf("r%03d", i)
		if err := emu.AddRepo(bbapitest.DefaultWorkspace, slug, bbapitest.DefaultProject); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, bbapitest.DefaultWorkspace+"/"+slug)
	}
	return refs
}

// accesskeyKeysOn counts, for each WS/SLUG, the access keys with fingerprint fp.
func accesskeyKeysOn(emu *bbapitest.Server, refs []string, fp string) map[string]int {
	out := map[string]int{}
	for _, ref := range refs {
		ws, slug, _ := strings.Cut(ref, "/")
		for _, k := range emu.RepoDeployKeys(ws, slug) {
			if "SHA256:"+strings.TrimPrefix(k.Fingerprint, "SHA256:") == fp {
				out[ref]++
			}
		}
	}
	return out
}

// accesskeyCalls sorts the request log: POSTs per repository, GETs of one repository's
// keys, listing calls, and everything else.
type accesskeyCalls struct {
	Total    int
	Posts    map[string]int // WS/SLUG (or project:WS/KEY) → POSTs
	RepoGets int            // GET …/deploy-keys (one repository's keys)
	Lists    int            // GET /2.0/repositories/{ws}
	Other    []string
}

func accesskeyCount(reqs []bbapitest.Request) accesskeyCalls {
	c := accesskeyCalls{Posts: map[string]int{}}
	for _, r := range reqs {
		c.Total++
		p := strings.TrimPrefix(r.Path, "/2.0/")
		parts := strings.Split(p, "/")
		switch {
		case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "repositories" && parts[3] == "deploy-keys":
			c.Posts[parts[1]+"/"+parts[2]]++
		case r.Method == http.MethodPost && len(parts) == 5 && parts[0] == "workspaces" && parts[4] == "deploy-keys":
			c.Posts["project:"+parts[1]+"/"+parts[3]]++
		case r.Method == http.MethodGet && strings.HasSuffix(p, "/deploy-keys"):
			c.RepoGets++
		case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "repositories":
			c.Lists++
		default:
			c.Other = append(c.Other, r.Method+" "+r.Path+"?"+r.RawQuery)
		}
	}
	return c
}

// accesskeyEvery503 answers every tenth POST of an access key with a 503, so a tenth of
// the adds fail once and are retried.
func accesskeyEvery503(emu *bbapitest.Server) {
	var n atomic.Int64
	emu.FailNext(func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/deploy-keys") && n.Add(1)%10 == 0
	}, 1<<30, http.StatusServiceUnavailable, bbapitest.BodyPlain)
}

// accesskeyFastClock is an emulator clock on which an hour passes in every real second,
// so the rolling rate-limit window clears while bbkey waits a few seconds.
func accesskeyFastClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(time.Since(start) * 3600) }
}

// accesskeySteppedClock stands still until the emulator has answered a new 429, then moves
// an hour on, so the rolling-hour budget runs out and refills whatever the machine's speed
// (a clock tied to wall time misses the limit when a loaded machine is slow).
func accesskeySteppedClock(t *testing.T, emu *bbapitest.Server) func() time.Time {
	start := time.Now()
	var offset atomic.Int64
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		seen := 0
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n := 0
			for _, q := range emu.Requests() {
				if q.Status == 429 {
					n++
				}
			}
			if n > seen {
				seen = n
				offset.Add(int64(time.Hour))
			}
		}
	}()
	return func() time.Time { return start.Add(time.Duration(offset.Load())) }
}
