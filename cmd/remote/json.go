// The --json document of remote (its shape is in remote.go's package comment and
// docs/remote.md).

package remote

import (
	"github.com/bbkey/bbkey/internal/iostreams"
	engine "github.com/bbkey/bbkey/internal/remote"
)

type jsonChange struct {
	Repository string `json:"repository"`
	ConfigFile string `json:"config_file"`
	Key        string `json:"key"`
	Remote     string `json:"remote"`
	Field      string `json:"field"`
	Old        string `json:"old"`
	New        string `json:"new"`
	HadSecret  bool   `json:"had_secret"`
	Applied    bool   `json:"applied"`
}

type jsonSkip struct {
	Repository string `json:"repository"`
	ConfigFile string `json:"config_file"`
	Remote     string `json:"remote"`
	Field      string `json:"field"`
	URL        string `json:"url"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	HasSecret  bool   `json:"has_secret"`
}

type jsonFailure struct {
	Repository string `json:"repository"`
	Error      string `json:"error"`
}

type jsonScrub struct {
	Files           []engine.CredFile `json:"files"`
	Helpers         []string          `json:"credential_helpers"`
	HelpersRejected bool              `json:"helpers_rejected"`
}

type jsonDoc struct {
	DryRun       bool          `json:"dry_run"`
	To           string        `json:"to"`
	Host         string        `json:"host"`
	Repositories int           `json:"repositories"`
	Changes      []jsonChange  `json:"changes"`
	LeftAlone    []jsonSkip    `json:"left_alone"`
	Failed       []jsonFailure `json:"failed"`
	Scrub        *jsonScrub    `json:"scrub,omitempty"`
	ChangedFiles []string      `json:"changed_files"`
}

func printJSON(opts *Options, plan *engine.Plan, sp *engine.ScrubPlan, failed []failure, dryRun bool) {
	doc := jsonDoc{
		DryRun: dryRun, To: "ssh", Host: plan.Target.Host(), Repositories: len(plan.Repos),
		Changes: []jsonChange{}, LeftAlone: []jsonSkip{}, Failed: []jsonFailure{}, ChangedFiles: []string{},
	}
	if t, ok := plan.Target.(engine.Target); ok && t.HTTPS {
		doc.To = "https"
	}
	files := map[string]bool{}
	addFile := func(f string) {
		if !files[f] {
			files[f] = true
			doc.ChangedFiles = append(doc.ChangedFiles, f)
		}
	}
	for _, rp := range plan.Repos {
		for _, c := range rp.Changes {
			doc.Changes = append(doc.Changes, jsonChange{
				Repository: rp.Repo.Dir, ConfigFile: c.File, Key: c.Key(), Remote: c.Name, Field: string(c.Field),
				Old: c.Old, New: c.New, HadSecret: c.Secret, Applied: rp.Applied,
			})
			if rp.Applied {
				addFile(c.File)
			}
		}
		for _, s := range rp.Skipped {
			doc.LeftAlone = append(doc.LeftAlone, jsonSkip{
				Repository: rp.Repo.Dir, ConfigFile: s.File, Remote: s.Name, Field: string(s.Field),
				URL: s.Old, Status: s.Status.String(), Reason: s.Reason, HasSecret: s.Secret,
			})
		}
	}
	for _, f := range failed {
		doc.Failed = append(doc.Failed, jsonFailure{Repository: f.dir, Error: f.err.Error()})
	}
	if sp != nil && (opts.Scrub || dryRun) {
		js := &jsonScrub{Files: append([]engine.CredFile{}, sp.Files...), Helpers: append([]string{}, sp.Helpers...), HelpersRejected: sp.Rejected}
		for _, f := range sp.Files {
			if f.Backup != "" {
				addFile(f.Path)
				addFile(f.Backup)
			}
		}
		doc.Scrub = js
	}
	_ = iostreams.WriteJSON(opts.IO.Out, doc)
}
