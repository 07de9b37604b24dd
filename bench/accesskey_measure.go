package main

import (
	"os"
	"path/filepath"
)

// measureAccessKey runs the add-access-key helper's program in bench/accesskey (bbkey
// add-access-key over 500 repositories at 100 ms against a sequential list-then-add
// client).
func measureAccessKey(c *config) []Row {
	const name = "add-access-key over 500 repositories @100ms vs sequential list-then-add"
	files, _ := filepath.Glob(filepath.Join(c.root, "bench", "accesskey", "*.go"))
	if len(files) == 0 {
		if _, err := os.Stat(filepath.Join(c.root, "bench", "accesskey")); err != nil {
			return []Row{notAvailable(name, "bench/accesskey does not exist yet")}
		}
		return []Row{notAvailable(name, "bench/accesskey has no program yet")}
	}
	return []Row{notAvailable(name, "bench/accesskey not wired yet")}
}
