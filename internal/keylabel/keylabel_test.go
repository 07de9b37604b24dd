package keylabel

import (
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	created := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		l    Label
		want string
	}{
		{Label{Name: "ada", Created: created}, "bbkey:ada:2026-11-22"},
		{Label{Name: "ci-01", Created: created, TTL: 90 * 24 * time.Hour}, "bbkey:ci-01:2026-11-22:ttl=90d"},
		{Label{Name: "x.y-z", Created: created, TTL: 36 * time.Hour}, "bbkey:x.y-z:2026-11-22:ttl=36h0m0s"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
		back, ok := Parse(tt.want)
		if !ok || back != tt.l {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.want, back, ok, tt.l)
		}
	}
}

func TestParseRejectsForeignLabels(t *testing.T) {
	for _, s := range []string{"", "laptop", "bbkey", "bbkey:", "bbkey:Ada:2026-11-22", "bbkey:ada:yesterday", "BBKEY:ada:2026-11-22", "my bbkey:ada:2026-11-22"} {
		if l, ok := Parse(s); ok {
			t.Errorf("Parse(%q) = %+v, want not bbkey's", s, l)
		}
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90d", 90 * day, false},
		{"2w", 14 * day, false},
		{"1d12h", 36 * time.Hour, false},
		{"36h", 36 * time.Hour, false},
		{"15m", 15 * time.Minute, false},
		{"", 0, true},
		{"d", 0, true},
		{"-5d", 0, true},
		{"0d", 0, true},
		{"ninety days", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if FormatDuration(90*day) != "90d" || FormatDuration(90*time.Minute) != "1h30m0s" {
		t.Error("FormatDuration")
	}
}

func TestValidName(t *testing.T) {
	good := []string{"laptop", "ci-01", "a", "build.example", "a..b", strings.Repeat("a", MaxNameLen)}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", "Laptop", "ci_01", "access_x", "-x", ".x", "a b", "a/b", "..", "ä", "a:b", strings.Repeat("a", MaxNameLen+1)}
	for _, n := range bad {
		if err := ValidName(n); err == nil {
			t.Errorf("ValidName(%q) = nil, want an error", n)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"CI-Runner-01":                           "ci-runner-01",
		"build box":                              "build-box",
		"-x-":                                    "x",
		"Ada Lovelace":                           "ada-lovelace",
		"ANN'S MacBook Pro":                      "ann-s-macbook-pro",
		"__ci__runner__":                         "ci-runner",
		"-.x.-":                                  "x",
		"ää__":                                   "",
		strings.Repeat("ab", 40):                 strings.Repeat("ab", 31) + "a",
		strings.Repeat("a", MaxNameLen-1) + ".b": strings.Repeat("a", MaxNameLen-1),
	} {
		got := SanitizeName(in)
		if got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
		if got != "" && ValidName(got) != nil {
			t.Errorf("sanitized %q is not valid", in)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 48 * time.Hour: "2d", 30 * time.Second: "30s", 8 * time.Hour: "8h", 0: "0s"} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%s) = %q, want %q", d, got, want)
		}
	}
}
