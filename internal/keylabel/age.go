package keylabel

import "time"

// AccountKeyPolicy is how old an account key may grow: Atlassian recommends replacing
// SSH keys at least once a year (API.md §4).
const AccountKeyPolicy = 365 * 24 * time.Hour

// Age is what bbkey knows of a key's age: when it was made and how old it may grow.
type Age struct {
	Created time.Time     // zero when unknown
	Policy  time.Duration // 0: no policy
}

// AgeOf is the one reading of a key's age, for list, remove, doctor, rotate and audit:
// the date of its bbkey label first, else the first known of the other dates (Bitbucket's,
// then the state's); the policy is a year for an account key, else the label's ttl.
func AgeOf(account bool, label string, dates ...time.Time) Age {
	var a Age
	l, ok := Parse(label)
	if ok {
		a.Created = l.Created
	}
	for _, d := range dates {
		if a.Created.IsZero() {
			a.Created = d
		}
	}
	switch {
	case account:
		a.Policy = AccountKeyPolicy
	case ok:
		a.Policy = l.TTL
	}
	return a
}

// Overdue reports whether the key is older than its policy at now; a key of unknown age,
// or without a policy, never is.
func (a Age) Overdue(now time.Time) bool {
	return a.Policy > 0 && !a.Created.IsZero() && now.Sub(a.Created) > a.Policy
}
