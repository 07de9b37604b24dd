package rotate

import (
	"testing"
	"time"
)

func TestLifetimeText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Hour:                  "8h",
		24 * time.Hour:                 "24h",
		90 * time.Minute:               "1h30m",
		30 * time.Minute:               "30m",
		10 * time.Second:               "10s",
		4 * time.Second:                "4s",
		time.Minute + 30*time.Second:   "1m30s",
		2*time.Hour + 10*time.Second:   "2h0m10s",
		100*time.Hour + 20*time.Minute: "100h20m",
	} {
		if got := lifetimeText(d); got != want {
			t.Errorf("lifetimeText(%v) = %q, want %q", d, got, want)
		}
	}
}
