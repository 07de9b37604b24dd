// Package prompttest holds a scripted prompt.Prompter for tests.
package prompttest

import (
	"fmt"
	"sync"
)

// Fake answers prompts from a script, for tests. Each Answer is consumed in order; a
// prompt with no answer left fails the test through the returned error.
type Fake struct {
	mu      sync.Mutex
	Answers []string
	// Asked records every label, in order.
	Asked []string
}

func (f *Fake) next(label string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Asked = append(f.Asked, label)
	if len(f.Answers) == 0 {
		return "", fmt.Errorf("prompttest.Fake: unexpected prompt %q", label)
	}
	a := f.Answers[0]
	f.Answers = f.Answers[1:]
	return a, nil
}

// Input implements prompt.Prompter.
func (f *Fake) Input(label, def string) (string, error) {
	a, err := f.next(label)
	if a == "" {
		a = def
	}
	return a, err
}

// Secret implements prompt.Prompter.
func (f *Fake) Secret(label string) ([]byte, error) {
	a, err := f.next(label)
	return []byte(a), err
}

// Confirm implements prompt.Prompter.
func (f *Fake) Confirm(label string, def bool) (bool, error) {
	a, err := f.next(label)
	if err != nil {
		return false, err
	}
	switch a {
	case "":
		return def, nil
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
