package sshproof

import (
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// recorder notes which key signed last. x/crypto asks the server about each key before
// signing with it and stops at the first success, so after a successful authentication
// the last key that signed is the one the server accepted.
type recorder struct {
	mu   sync.Mutex
	last ssh.PublicKey
}

func (r *recorder) note(k ssh.PublicKey) {
	r.mu.Lock()
	r.last = k
	r.mu.Unlock()
}

func (r *recorder) fingerprint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return ""
	}
	return ssh.FingerprintSHA256(r.last)
}

// wrap keeps the signer's algorithm interfaces: hiding them would make x/crypto sign RSA
// keys with SHA-1, which Bitbucket refuses.
func (r *recorder) wrap(s ssh.Signer) ssh.Signer {
	base := recSigner{s: s, r: r}
	if ms, ok := s.(ssh.MultiAlgorithmSigner); ok {
		return recMulti{recAlg{base, ms}, ms}
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return recAlg{base, as}
	}
	return base
}

type recSigner struct {
	s ssh.Signer
	r *recorder
}

func (w recSigner) PublicKey() ssh.PublicKey { return w.s.PublicKey() }

func (w recSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	sig, err := w.s.Sign(rand, data)
	if err == nil {
		w.r.note(w.s.PublicKey())
	}
	return sig, err
}

type recAlg struct {
	recSigner
	as ssh.AlgorithmSigner
}

func (w recAlg) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	sig, err := w.as.SignWithAlgorithm(rand, data, algorithm)
	if err == nil {
		w.r.note(w.s.PublicKey())
	}
	return sig, err
}

type recMulti struct {
	recAlg
	ms ssh.MultiAlgorithmSigner
}

func (w recMulti) Algorithms() []string { return w.ms.Algorithms() }
