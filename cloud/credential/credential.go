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

// HashPassword hashes a person's password.
func HashPassword(pw string) (string, error) {
	if len(pw) < 10 {
		return "", fmt.Errorf("password: %d characters, at least 10", len(pw))
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// CheckPassword reports whether pw matches hash.
func CheckPassword(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
