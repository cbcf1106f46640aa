package credential

import (
	"encoding/base64"
	"regexp"
	"testing"
)

// Gateway secrets are 32 random bytes each, so no two gateways share one and none
// can be derived from a gateway's ID or serial (EN 303 645 5.1-2); the stored hash
// checks the secret and nothing else.
func TestSecrets(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		s := NewSecret()
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("secret %q: %d bytes, %v", s, len(b), err)
		}
		if seen[s] {
			t.Fatalf("secret %q made twice", s)
		}
		seen[s] = true
	}
	s := NewSecret()
	h := HashSecret(s)
	if !CheckSecret(h, s) || CheckSecret(h, s+"x") || CheckSecret(h, "") || CheckSecret("", "") {
		t.Error("CheckSecret accepts what it should not, or refuses the secret")
	}
}

// Claim codes read aloud or typed from paper: Crockford's alphabet, XXXX-XXXX, and
// what a person types (lower case, O for 0, I or L for 1, no dash) normalises to it.
func TestCodes(t *testing.T) {
	form := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	seen := map[string]bool{}
	for range 2000 {
		c := NewCode()
		if !form.MatchString(c) {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("%d distinct codes of 2000: not random enough", len(seen))
	}
	for typed, want := range map[string]string{"ab1o-il23": "AB101123", "AB1O 1123": "AB101123", "ab101123": "AB101123"} {
		if got := NormalizeCode(typed); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", typed, got, want)
		}
	}
}
