package provision

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
)

// MosquittoLine returns user's line for a Mosquitto 2 password_file, in the
// format mosquitto_passwd writes ($7$: PBKDF2-SHA512, 12-byte salt, 64-byte
// key). Mosquitto checks its own file, not the cloud's database, so with
// deploy/mosquitto a claim reaches the broker only when the operator appends
// this line and reloads. The line is safe to send by chat or mail: the secret
// is 256 random bits, which no hash of it gives back; 101 iterations (the
// mosquitto_passwd default) are enough for that and keep logins cheap.
func MosquittoLine(user, secret string) (string, error) {
	salt := make([]byte, 12)
	rand.Read(salt)
	return mosquittoLine(user, secret, salt)
}

func mosquittoLine(user, secret string, salt []byte) (string, error) {
	key, err := pbkdf2.Key(sha512.New, secret, salt, 101, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("mosquitto password line: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s:$7$101$%s$%s", user, b64(salt), b64(key)), nil
}
