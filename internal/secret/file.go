package secret

import (
	"bytes"
	"fmt"
	"os"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/keys"
)

// maxFile bounds a secret file; a larger file is the wrong file.
const maxFile = 64 << 10

// ReadFile reads a secret from the file path named by flag (--passphrase-file,
// --token-file): a regular file others can read is refused with its fix (pipes are taken
// as they are), more than 64 KiB is the wrong file, a UTF-8 byte-order mark and one
// trailing newline are dropped, and UTF-16 or a second line is refused rather than
// silently made part of the secret. Errors are usage errors naming the flag.
func ReadFile(flag, path string) ([]byte, error) {
	holds, hint := fileHint(flag)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errkind.UsageError(fmt.Errorf("reading %s: %w", flag, err), hint)
	}
	if fi.Mode().IsRegular() {
		if err := keys.CheckSecretFile(path, holds); err != nil {
			// A secret store's mount (Kubernetes, CI: read-only, 0440) cannot be chmod'ed.
			return nil, errkind.UsageError(fmt.Errorf("%s: %w", flag, err), append(errkind.Hints(err), envHint[holds])...)
		}
		if fi.Size() > maxFile {
			return nil, errkind.UsageError(fmt.Errorf("%s %s is larger than %d bytes, not a secret", flag, path, maxFile), hint)
		}
	}
	b, err := keys.ReadBounded(path, maxFile)
	if err != nil {
		return nil, errkind.UsageError(fmt.Errorf("reading %s: %w", flag, err), hint)
	}
	// Windows tools: Notepad and PowerShell's -Encoding utf8 start a file with a UTF-8
	// byte-order mark, which is no part of the secret; Windows PowerShell's > writes UTF-16.
	if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		clear(b)
		return nil, errkind.UsageError(fmt.Errorf("%s %s is UTF-16 text", flag, path),
			"save it as UTF-8: in Windows PowerShell, Set-Content FILE -Encoding utf8 (its > and Out-File write UTF-16)")
	}
	if bom := []byte("\xef\xbb\xbf"); bytes.HasPrefix(b, bom) {
		b = b[len(bom):]
	}
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		clear(b[len(b)-2:])
		b = b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n")):
		clear(b[len(b)-1:])
		b = b[:len(b)-1]
	}
	if bytes.ContainsAny(b, "\r\n") {
		clear(b)
		return nil, errkind.UsageError(fmt.Errorf("%s %s has more than one line", flag, path),
			"the secret is the whole file but one trailing newline, spaces included: keep only it in the file, on one line")
	}
	return b, nil
}

// fileHint says what the file named by flag holds ("token" for --token-file, else
// "passphrase") and the hint for a file that cannot be it.
func fileHint(flag string) (holds, hint string) {
	holds = "passphrase"
	if flag == "--token-file" {
		holds = "token"
	}
	return holds, "check the path: " + flag + " names a file you can read that holds the " + holds + " alone"
}

// envHint names, per secret, the environment variables that give it instead of a file.
var envHint = map[string]string{
	"passphrase": "if the file cannot be made private (a read-only secret mount), set " + PassphraseEnv + " instead",
	"token":      "if the file cannot be made private (a read-only secret mount), set the token's variable instead: BITBUCKET_SERVER_TOKEN (Data Center), BITBUCKET_EMAIL and BITBUCKET_API_TOKEN (an API token) or BITBUCKET_ACCESS_TOKEN (an access token)",
}

// ReadNonEmpty is ReadFile for a secret that cannot be empty.
func ReadNonEmpty(flag, path string) ([]byte, error) {
	b, err := ReadFile(flag, path)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		clear(b)
		_, hint := fileHint(flag)
		return nil, errkind.UsageError(fmt.Errorf("reading %s: %s is empty", flag, path), hint)
	}
	return b, nil
}
