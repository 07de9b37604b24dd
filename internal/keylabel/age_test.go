package keylabel

import (
	"testing"
	"time"
)

func TestAgeOf(t *testing.T) {
	day := 24 * time.Hour
	made := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	bb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		account bool
		label   string
		dates   []time.Time
		want    Age
	}{
		{"account key, bbkey label", true, "bbkey:laptop:2025-03-01", []time.Time{bb, st}, Age{made, AccountKeyPolicy}},
		{"account key, foreign label: Bitbucket's date", true, "work laptop", []time.Time{bb, st}, Age{bb, AccountKeyPolicy}},
		{"unknown Bitbucket date: the state's", true, "", []time.Time{{}, st}, Age{st, AccountKeyPolicy}},
		{"access key with ttl", false, "bbkey:ci:2025-03-01:ttl=90d", nil, Age{made, 90 * day}},
		{"access key without ttl", false, "bbkey:ci:2025-03-01", nil, Age{made, 0}},
		{"foreign access key", false, "deploy", []time.Time{bb}, Age{bb, 0}},
		{"nothing known", false, "", nil, Age{}},
	} {
		if got := AgeOf(tc.account, tc.label, tc.dates...); got != tc.want {
			t.Errorf("%s: AgeOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	a := Age{made, 90 * day}
	if a.Overdue(made.Add(90*day)) || !a.Overdue(made.Add(90*day+time.Second)) {
		t.Error("Overdue: the policy's last day is still within it, a second later is not")
	}
	if (Age{Policy: day}).Overdue(made) || (Age{Created: made}).Overdue(made.Add(1000*day)) {
		t.Error("Overdue without a date or a policy")
	}
}
