package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/keys"
)

// keyFingerprint reads the fingerprint of a key file, private or .pub, without its
// passphrase.
func keyFingerprint(path string) (string, error) {
	k, err := keys.LoadPublic(path)
	if err != nil {
		return "", err
	}
	return k.Fingerprint, nil
}

// oldKeyFile is rotate's check before retiring a file: only files holding the old key
// move; one holding the new key means the move is long done (a run killed between the
// two moves finishes the second next time); anything else stops the rotation.
func oldKeyFile(oldFP, newFP string) func(string) (bool, error) {
	return func(path string) (bool, error) {
		fp, err := keyFingerprint(path)
		if err != nil {
			return false, fmt.Errorf("reading %s before moving it: %w", path, err)
		}
		switch fp {
		case newFP:
			return false, nil
		case oldFP:
			return true, nil
		}
		return false, fmt.Errorf("%s holds %s, neither the old key %s nor the new one", path, fp, oldFP)
	}
}

// linkKeyFiles gives the successor at src its final name dst: a hard link, so both names
// hold it until the config has moved over (a copy where links are not possible). A dst
// already holding the new key (a run killed half-way) is left as it is.
func linkKeyFiles(src, dst, newFP string) error {
	for _, suffix := range []string{"", keys.PublicSuffix} {
		to := dst + suffix
		if !fsutil.MayExist(to) {
			if err := linkOrCopy(src+suffix, to); err != nil {
				return fmt.Errorf("putting the new key in place: %w", err)
			}
		}
		fp, err := keyFingerprint(to)
		if err != nil {
			return err
		}
		if fp != newFP {
			return fmt.Errorf("cannot put the new key in place: %s already exists and holds %s, not the new key %s", to, fp, newFP)
		}
	}
	return nil
}

func linkOrCopy(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	defer clear(b)
	return fsutil.CreateExclusive(to, b, fsutil.KeepPerm(from, fi, fi.Mode().Perm()))
}

// pruneRetired deletes retired key files (named <key file>[.pub].<RetiredTimeLayout>-<hex>)
// stamped more than keep before now, and returns what it deleted. Other files are never
// touched.
func pruneRetired(dir string, now time.Time, keep time.Duration) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, ent := range entries {
		name := ent.Name()
		i := strings.LastIndexByte(name, '.')
		if i < 0 || !ent.Type().IsRegular() {
			continue
		}
		base := strings.TrimSuffix(name[:i], keys.PublicSuffix)
		if _, _, ok := keys.ParseFileName(base); !ok {
			continue
		}
		ts, _, _ := strings.Cut(name[i+1:], "-")
		stamp, err := time.Parse(RetiredTimeLayout, ts)
		if err != nil || now.Sub(stamp) < keep {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("deleting a retired key: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}
