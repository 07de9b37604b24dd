package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"

	//lint:ignore SA1019 bcrypt_pbkdf, OpenSSH's key KDF, is defined over Blowfish
	"golang.org/x/crypto/blowfish"
	"golang.org/x/crypto/ssh"
)

// DefaultKDFRounds is the bcrypt KDF cost of every key bbkey writes: ssh-keygen's default.
const DefaultKDFRounds = 16

var kdfRounds atomic.Int32

func init() { kdfRounds.Store(DefaultKDFRounds) }

// fileKey is aes256-ctr's key and IV, derived from the passphrase by bcrypt_pbkdf.
type fileKey struct {
	salt   []byte
	rounds int
	k      []byte // 32 bytes of AES key, then the IV
}

// deriveFileKey runs the KDF with a fresh salt.
func deriveFileKey(pass []byte) (*fileKey, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	rounds := int(kdfRounds.Load())
	return &fileKey{salt: salt, rounds: rounds, k: bcryptPBKDF(pass, salt, rounds, 32+aes.BlockSize)}, nil
}

func (fk *fileKey) wipe() {
	if fk != nil {
		clear(fk.k)
	}
}

const opensshMagic = "openssh-key-v1\x00"

type opensshFile struct {
	CipherName   string
	KdfName      string
	KdfOpts      string
	NumKeys      uint32
	PubKey       []byte
	PrivKeyBlock []byte
}

type opensshEd25519Block struct {
	Check1  uint32
	Check2  uint32
	Keytype string
	Pub     []byte
	Priv    []byte
	Comment string
	Pad     []byte `ssh:"rest"`
}

// seal encodes priv and its comment in OpenSSH's format, encrypted with fk (nil: not):
// x/crypto's plain encoding, its private block padded and encrypted, the KDF in the header.
func seal(priv ed25519.PrivateKey, comment string, fk *fileKey) (*pem.Block, error) {
	plain, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil || fk == nil {
		return plain, err
	}
	defer clear(plain.Bytes)
	if len(plain.Bytes) < len(opensshMagic) || string(plain.Bytes[:len(opensshMagic)]) != opensshMagic {
		return nil, errors.New("encoding the key: not an OpenSSH key")
	}
	var f opensshFile
	if err := ssh.Unmarshal(plain.Bytes[len(opensshMagic):], &f); err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	var blk opensshEd25519Block
	if err := ssh.Unmarshal(f.PrivKeyBlock, &blk); err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	defer clear(blk.Priv)
	blk.Pad = nil
	body := ssh.Marshal(blk)
	for i := 1; len(body)%aes.BlockSize != 0; i++ {
		body = append(body, byte(i))
	}
	defer clear(body)

	c, err := aes.NewCipher(fk.k[:32])
	if err != nil {
		return nil, err
	}
	enc := make([]byte, len(body))
	cipher.NewCTR(c, fk.k[32:]).XORKeyStream(enc, body)

	f.CipherName, f.KdfName = "aes256-ctr", "bcrypt"
	f.KdfOpts = string(ssh.Marshal(struct {
		Salt   []byte
		Rounds uint32
	}{fk.salt, uint32(fk.rounds)}))
	f.PrivKeyBlock = enc
	return &pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: append([]byte(opensshMagic), ssh.Marshal(f)...)}, nil
}

// bcryptPBKDF is OpenBSD's bcrypt_pbkdf (x/crypto's copy is internal, and runs only once
// the comment is known; this one runs before).
func bcryptPBKDF(pass, salt []byte, rounds, keyLen int) []byte {
	const hashLen = 32
	blocks := (keyLen + hashLen - 1) / hashLen
	key := make([]byte, blocks*hashLen)
	sha2pass := sha512.Sum512(pass)
	var cnt [4]byte
	tmp, out := make([]byte, hashLen), make([]byte, hashLen)
	for block := 1; block <= blocks; block++ {
		binary.BigEndian.PutUint32(cnt[:], uint32(block))
		sha2salt := sha512.Sum512(append(append([]byte(nil), salt...), cnt[:]...))
		bcryptHash(tmp, sha2pass[:], sha2salt[:])
		copy(out, tmp)
		for i := 1; i < rounds; i++ {
			sha2salt = sha512.Sum512(tmp)
			bcryptHash(tmp, sha2pass[:], sha2salt[:])
			for j := range out {
				out[j] ^= tmp[j]
			}
		}
		// The output bytes are spread across the key, stride blocks apart.
		for i, b := range out {
			key[i*blocks+block-1] = b
		}
	}
	return key[:keyLen]
}

func bcryptHash(out, sha2pass, sha2salt []byte) {
	c, err := blowfish.NewSaltedCipher(sha2pass, sha2salt)
	if err != nil {
		panic(err) // only for an empty key; sha2pass is 64 bytes
	}
	for range 64 {
		blowfish.ExpandKey(sha2salt, c)
		blowfish.ExpandKey(sha2pass, c)
	}
	copy(out, "OxychromaticBlowfishSwatDynamite")
	for i := 0; i < len(out); i += 8 {
		for range 64 {
			c.Encrypt(out[i:i+8], out[i:i+8])
		}
	}
	// The words come out big-endian; bcrypt_pbkdf takes them little-endian.
	for i := 0; i < len(out); i += 4 {
		out[i], out[i+1], out[i+2], out[i+3] = out[i+3], out[i+2], out[i+1], out[i]
	}
}
