package remove

import "testing"

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in                    string
		fp, uuid, label, name string
		id                    int64
	}{
		{in: "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM", fp: "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM"},
		{in: "sha256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM=", fp: "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM"},
		{in: "{A0A0A0A0-ADA0-4ADA-8ADA-00000000ADA0}", uuid: "{a0a0a0a0-ada0-4ada-8ada-00000000ada0}"},
		{in: "a0a0a0a0-ada0-4ada-8ada-00000000ada0", uuid: "{a0a0a0a0-ada0-4ada-8ada-00000000ada0}"},
		{in: "1001", id: 1001},
		{in: "laptop", label: "laptop", name: "laptop"},
		{in: "bbkey:laptop", label: "bbkey:laptop", name: "laptop"},
		{in: "bbkey:laptop:2026-11-22", label: "bbkey:laptop:2026-11-22"},
		{in: "my laptop", label: "my laptop"},
	} {
		s, err := parseSelector(tc.in)
		if err != nil || s.fingerprint != tc.fp || s.uuid != tc.uuid || s.id != tc.id || s.label != tc.label || s.name != tc.name {
			t.Errorf("parseSelector(%q) = %+v, %v", tc.in, s, err)
		}
	}
	for _, bad := range []string{"", "SHA256:", "SHA256:not base64!"} {
		if _, err := parseSelector(bad); err == nil {
			t.Errorf("parseSelector(%q) accepted", bad)
		}
	}
}

func TestMatchLabelOnlyGuessesBbkeyLabels(t *testing.T) {
	name, _ := parseSelector("laptop")
	for label, want := range map[string]bool{
		"bbkey:laptop:2026-11-22":         true,
		"bbkey:laptop:2026-11-22:ttl=90d": true,
		"laptop":                          true, // the whole label, named exactly
		"laptop key":                      false,
		"bbkey:laptop-2:2026-11-22":       false,
		"xbbkey:laptop:2026-11-22":        false,
	} {
		if got := name.matchLabel(label); got != want {
			t.Errorf("laptop matches %q = %v, want %v", label, got, want)
		}
	}
	exact, _ := parseSelector("bbkey:laptop:2026-11-22")
	if exact.matchLabel("bbkey:laptop:2025-01-01") {
		t.Error("a whole label matched another date")
	}
}
