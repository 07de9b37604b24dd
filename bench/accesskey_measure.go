package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// measureAccessKey runs the add-access-key helper's program, bench/accesskey: bbkey
// add-access-key over a workspace of 500 repositories with 100 ms of latency on every
// request, against a sequential client that lists the repositories and then, one request
// at a time, GETs each one's access keys and POSTs the key; then the same with --all
// over 500 repositories of a Bitbucket Data Center.
func measureAccessKey(c *config) []Row {
	return append(measureAccessKeyOn(c, false), measureAccessKeyOn(c, true)...)
}

func measureAccessKeyOn(c *config, datacenter bool) []Row {
	repos, latency := 500, 100*time.Millisecond
	if c.quick {
		repos, latency = 30, 20*time.Millisecond
	}
	name := fmt.Sprintf("add-access-key over %d repositories @%dms", repos, latency.Milliseconds())
	args := []string{"run", "./bench/accesskey", "-bbkey", c.bin, "-repos", strconv.Itoa(repos), "-latency", latency.String()}
	if datacenter {
		name = fmt.Sprintf("add-access-key --all over %d Data Center repositories @%dms", repos, latency.Milliseconds())
		args = append(args, "-datacenter")
	}
	if _, err := os.Stat(filepath.Join(c.root, "bench", "accesskey", "main.go")); err != nil {
		return []Row{notAvailable(name, "bench/accesskey has no program yet")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := c.command(ctx, c.root, nil, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return []Row{notAvailable(name, fmt.Sprintf("bench/accesskey: %v: %s", err, lastLine(stderr.Bytes())))}
	}
	ours, seq, err := parseAccessKeyBench(out)
	if err != nil {
		return []Row{notAvailable(name, err.Error())}
	}
	const budget = 1000
	calls := Row{Name: name + ": HTTP calls vs sequential list-then-add", Ours: strconv.Itoa(ours.calls), Baseline: strconv.Itoa(seq.calls),
		Ratio: ratio(float64(ours.calls), float64(seq.calls)), Target: fmt.Sprintf("≤ %d (Bitbucket's hourly budget)", budget),
		Verdict: verdict(ours.calls <= budget)}
	if datacenter {
		// Data Center's rate limit is each server's own setting: the calls are reported
		// against one listing page per 100 repositories, one POST each and the SSH
		// settings (a new key is never looked for first).
		want := (repos+99)/100 + repos + 1
		calls.Target, calls.Verdict = fmt.Sprintf("≤ %d (listing pages + one POST each + SSH settings)", want), verdict(ours.calls <= want)
	}
	return []Row{
		{Name: name + ": wall time vs sequential list-then-add", Ours: secs(ours.wall), Baseline: secs(seq.wall),
			Ratio: ratio(float64(ours.wall), float64(seq.wall)), Target: "≤ 1.00x", Verdict: verdict(ours.wall <= seq.wall),
			Note: "bench/accesskey (" + ours.name + "; rate limit off in both runs so calls compare like for like)"},
		calls,
	}
}

type accessKeyRun struct {
	name  string
	wall  time.Duration
	calls int
}

var columns = regexp.MustCompile(`\s{2,}`)

// parseAccessKeyBench reads bench/accesskey's table: "approach  wall time  calls  fits…",
// then one line for bbkey ("bbkey add-access-key …  52.3s  503  yes") and one for the
// sequential client ("sequential: …  104.0s  1003  no").
func parseAccessKeyBench(out []byte) (ours, seq accessKeyRun, err error) {
	found := 0
	for line := range strings.Lines(string(out)) {
		f := columns.Split(strings.TrimSpace(line), -1)
		if len(f) < 3 {
			continue
		}
		secs, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "s"), 64)
		calls, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		r := accessKeyRun{name: f[0], wall: time.Duration(secs * float64(time.Second)), calls: calls}
		switch {
		case strings.HasPrefix(f[0], "bbkey add-access-key"):
			ours, found = r, found|1
		case strings.HasPrefix(f[0], "sequential"):
			seq, found = r, found|2
		}
	}
	if found != 3 {
		return ours, seq, fmt.Errorf("bench/accesskey printed no timings I recognise: %q", strings.TrimSpace(string(out)))
	}
	return ours, seq, nil
}
