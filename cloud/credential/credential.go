// Package credential makes and checks secrets: gateway MQTT secrets (random, 256-bit,
// so a fast hash is enough and 100k reconnecting gateways cost nothing) and user
// passwords (bcrypt, because people choose them).
package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// NewSecret returns a random URL-safe secret of 32 bytes' entropy.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret hashes a machine secret for storage.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CheckSecret compares a presented secret with a stored hash in constant time.
func CheckSecret(hash, secret string) bool {
	return hash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

// BcryptCost is the work factor for passwords. Tests lower it: under the race
// detector each hash at the default cost takes seconds.
var BcryptCost = bcrypt.DefaultCost

// HashPassword hashes a person's password.
func HashPassword(pw string) (string, error) {
	if len(pw) < 10 {
		return "", fmt.Errorf("password: %d characters, at least 10", len(pw))
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// CheckPassword reports whether pw matches hash.
func CheckPassword(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or typed from a
// sheet of paper is not misread.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewCode returns a short one-time code (8 characters, 40 bits) formatted XXXX-XXXX.
// Codes are short-lived, single-use and their attempts throttled, which is what makes
// 40 bits enough.
func NewCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, crockford[int(c)%32])
	}
	return string(out)
}

// NormalizeCode maps what a person typed to the canonical code: case, dashes and
// spaces ignored, O→0 and I/L→1 as Crockford prescribes.
func NormalizeCode(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		out = append(out, byte(r))
	}
	return string(out)
}
