package credstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/keys"
)

// FileName is the plain credentials file in the config directory (--insecure-storage).
const FileName = "credentials.json"

// maxFileSize bounds what File reads; a few credentials are a few hundred bytes.
const maxFileSize = 1 << 20

// File is a Store in a 0600 JSON file, created exclusively and refused when others can
// read it.
type File struct {
	Path   string
	reason string // why the file is in use instead of the keychain
}

var _ Store = (*File)(nil)

// NewFile returns the file store in configDir.
func NewFile(configDir string) *File {
	return &File{Path: filepath.Join(configDir, FileName)}
}

func (f *File) Kind() string { return "file" }

// Warning is the line to print on stderr whenever s is the file store; "" otherwise.
func Warning(s Store) string {
	f, ok := s.(*File)
	if !ok {
		return ""
	}
	w := fmt.Sprintf("credentials are kept in the plain file %s (mode 0600), not in an OS keychain", f.Path)
	if f.reason != "" {
		w += ": " + f.reason
	}
	return w
}

type fileDoc struct {
	Version     int               `json:"version"`
	Credentials map[string]record `json:"credentials"`
}

const fileVersion = 1

func (f *File) lockPath() string { return f.Path + ".lock" }

// read loads the document; a missing file is an empty document.
func (f *File) read() (fileDoc, error) {
	doc := fileDoc{Version: fileVersion, Credentials: map[string]record{}}
	fi, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("reading credentials: %w", err)
	}
	if err := checkPrivate(f.Path, fi); err != nil {
		return doc, err
	}
	// Read bounded, and every buffer cleared: the file holds the secrets in the clear.
	b, err := keys.ReadBounded(f.Path, maxFileSize)
	if err != nil {
		return doc, fmt.Errorf("reading credentials: %w", err)
	}
	defer clear(b)
	// The json error is dropped: its text may quote bytes of a secret.
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("credentials file %s is not valid JSON", f.Path)
	}
	if doc.Version > fileVersion {
		return doc, fmt.Errorf("credentials file %s was written by a newer bbkey (version %d)", f.Path, doc.Version)
	}
	if doc.Credentials == nil {
		doc.Credentials = map[string]record{}
	}
	return doc, nil
}

func (f *File) write(doc fileDoc) error {
	if len(doc.Credentials) == 0 {
		// Nothing left: remove the file, so the keychain is preferred again.
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing credentials file: %w", err)
		}
		return nil
	}
	doc.Version = fileVersion
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	// A new file is 0600 from the start; an existing one, read checked, keeps its mode.
	if err := fsutil.WriteFileAtomic(f.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing credentials file: %w", err)
	}
	return nil
}

// update runs fn on the document under the file lock and writes the result.
func (f *File) update(ctx context.Context, fn func(*fileDoc) error) error {
	if err := fsutil.MkdirPrivate(filepath.Dir(f.Path)); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	lock, err := fsutil.LockContext(ctx, f.lockPath())
	if err != nil {
		return fmt.Errorf("locking credentials file: %w", err)
	}
	defer lock.Unlock()
	doc, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(&doc); err != nil {
		return err
	}
	return f.write(doc)
}

// Get returns the secret of account.
func (f *File) Get(_ context.Context, account string) (Secret, error) {
	if err := checkAccount(account); err != nil {
		return Secret{}, err
	}
	doc, err := f.read()
	if err != nil {
		return Secret{}, err
	}
	r, ok := doc.Credentials[account]
	if !ok {
		return Secret{}, notFound(account)
	}
	return r.check(account)
}

// Set stores s under account.
func (f *File) Set(ctx context.Context, account string, s Secret) error {
	if err := checkSet(account, s); err != nil {
		return err
	}
	return f.update(ctx, func(doc *fileDoc) error {
		doc.Credentials[account] = record{V: recordVersion, Secret: s}
		return nil
	})
}

// Delete removes account; the file goes when its last credential does.
func (f *File) Delete(ctx context.Context, account string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	return f.update(ctx, func(doc *fileDoc) error {
		if _, ok := doc.Credentials[account]; !ok {
			return notFound(account)
		}
		delete(doc.Credentials, account)
		return nil
	})
}

// exists reports whether the credentials file is there (the user opted in earlier).
func (f *File) exists() bool {
	_, err := os.Lstat(f.Path)
	return err == nil
}
