// What remove prints, and its --json.

package remove

import (
	"cmp"

	"github.com/bbkey/bbkey/internal/iostreams"
)

type jsonVictim struct {
	// Server is "cloud" or the Data Center server's base URL.
	Server      string `json:"server"`
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint"`
	Label       string `json:"label"`
	ID          string `json:"id"`
	Target      string `json:"target"`
	TargetKind  string `json:"target_kind"`
}

type jsonMove struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type jsonDoc struct {
	DryRun       bool         `json:"dry_run"`
	Removed      []jsonVictim `json:"removed"`
	AgentRemoved []string     `json:"agent_removed"`
	FilesMoved   []jsonMove   `json:"files_moved"`
	ChangedFiles []string     `json:"changed_files"`
}

func report(opts *Options, vs []victim, l local, dryRun bool) error {
	if dryRun && !opts.JSON {
		for _, v := range vs {
			opts.IO.Step(iostreams.MarkWarn, "Would remove %s", v.describe())
		}
		for _, d := range l.describe() {
			opts.IO.Step(iostreams.MarkWarn, "Would %s", d)
		}
		opts.IO.Step(iostreams.MarkWarn, "Dry run: nothing changed")
	}
	if !opts.JSON {
		return nil
	}
	doc := jsonDoc{DryRun: dryRun, Removed: []jsonVictim{}, AgentRemoved: []string{}, FilesMoved: []jsonMove{}, ChangedFiles: []string{}}
	for _, v := range vs {
		jv := jsonVictim{Server: cmp.Or(v.server, "cloud"), Kind: v.kind(), Fingerprint: v.key.Fingerprint, Label: v.key.Label, ID: v.key.ID}
		if !v.account {
			jv.Target, jv.TargetKind = v.target.Ref(), string(v.target.Kind)
		}
		doc.Removed = append(doc.Removed, jv)
	}
	if l.agentRemoved {
		doc.AgentRemoved = append(doc.AgentRemoved, l.fp)
	}
	for _, m := range l.moved {
		doc.FilesMoved = append(doc.FilesMoved, jsonMove{From: m[0], To: m[1]})
	}
	doc.ChangedFiles = append(doc.ChangedFiles, l.changed...)
	return iostreams.WriteJSON(opts.IO.Out, doc)
}
