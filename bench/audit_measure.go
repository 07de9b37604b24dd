package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// measureAudit runs bench/audit: bbkey audit over a workspace of 1,000 repositories with
// 100 ms of latency on every request, against a sequential listing of the same.
func measureAudit(c *config) []Row {
	repos, latency := 1000, 100*time.Millisecond
	if c.quick {
		repos, latency = 40, 20*time.Millisecond
	}
	name := fmt.Sprintf("audit over %d repositories @%dms", repos, latency.Milliseconds())
	if _, err := os.Stat(filepath.Join(c.root, "bench", "audit", "main.go")); err != nil {
		return []Row{notAvailable(name, "bench/audit has no program yet")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := c.command(ctx, c.root, nil, "go", "run", "./bench/audit",
		"-bbkey", c.bin, "-repos", strconv.Itoa(repos), "-latency", latency.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return []Row{notAvailable(name, fmt.Sprintf("bench/audit: %v: %s", err, lastLine(stderr.Bytes())))}
	}
	ours, seq, err := parseAuditBench(out)
	if err != nil {
		return []Row{notAvailable(name, err.Error())}
	}
	// One call per repository plus the listing's pages, a hundred repositories each.
	maxRepoCalls := repos + (repos+99)/100
	maxWall := 15 * time.Second
	return []Row{
		{Name: name + ": wall time vs sequential listing", Ours: secs(ours.wall), Baseline: secs(seq.wall),
			Ratio: ratio(float64(ours.wall), float64(seq.wall)), Target: "≤ " + secs(maxWall), Verdict: verdict(c.quick || ours.wall <= maxWall),
			Note: "bench/audit (" + ours.name + ", empty cache; rate limit off in both runs so calls compare like for like)"},
		{Name: name + ": calls to /2.0/repositories/* vs sequential", Ours: strconv.Itoa(ours.repoCalls), Baseline: strconv.Itoa(seq.repoCalls),
			Ratio: ratio(float64(ours.repoCalls), float64(seq.repoCalls)), Target: fmt.Sprintf("≤ %d", maxRepoCalls), Verdict: verdict(ours.repoCalls <= maxRepoCalls),
			Note: fmt.Sprintf("the group Bitbucket limits to about 1,000 an hour; all calls: %d (the project listing and the project's keys, under /2.0/workspaces, are outside it)", ours.calls)},
	}
}

type auditRun struct {
	name             string
	wall             time.Duration
	calls, repoCalls int
}

// parseAuditBench reads bench/audit's table: "approach  wall time  calls  /2.0/repositories
// calls  placements", then one line for bbkey and one for the sequential listing.
func parseAuditBench(out []byte) (ours, seq auditRun, err error) {
	found := 0
	for line := range strings.Lines(string(out)) {
		f := columns.Split(strings.TrimSpace(line), -1)
		if len(f) < 4 {
			continue
		}
		secs, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "s"), 64)
		calls, err2 := strconv.Atoi(f[2])
		repoCalls, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		r := auditRun{name: f[0], wall: time.Duration(secs * float64(time.Second)), calls: calls, repoCalls: repoCalls}
		switch {
		case strings.HasPrefix(f[0], "bbkey audit"):
			ours, found = r, found|1
		case strings.HasPrefix(f[0], "sequential"):
			seq, found = r, found|2
		}
	}
	if found != 3 {
		return ours, seq, fmt.Errorf("bench/audit printed no timings I recognise: %q", strings.TrimSpace(string(out)))
	}
	return ours, seq, nil
}
