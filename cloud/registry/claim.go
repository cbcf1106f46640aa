package registry

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// ClaimTTL is how long a claim code stays valid: one installation day.
const ClaimTTL = 24 * time.Hour

// crockford is Crockford's base32 alphabet: no I, L, O or U, so a code read aloud
// or copied from paper is hard to get wrong.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// claimLen is 8 characters, 40 bits: guessing one of the few codes outstanding at
// a time through the throttled claim endpoint is hopeless within 24 hours.
const claimLen = 8

// NewClaimCode returns a random code in its display form, "ABCD-EFGH".
func NewClaimCode() string {
	b := make([]byte, claimLen)
	rand.Read(b)
	var s strings.Builder
	for i, v := range b {
		if i == claimLen/2 {
			s.WriteByte('-')
		}
		// 256 is a multiple of 32, so taking the low five bits keeps it uniform.
		s.WriteByte(crockford[v&31])
	}
	return s.String()
}

// NormalizeClaimCode turns what an installer typed into the canonical code:
// upper case, no dashes or spaces, and the look-alikes Crockford allows (I and L
// for 1, O for 0) mapped back.
func NormalizeClaimCode(in string) (string, error) {
	var s strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'I' || r == 'L':
			r = '1'
		case r == 'O':
			r = '0'
		}
		if r > 0x7f || !strings.ContainsRune(crockford, r) {
			return "", fmt.Errorf("claim code %q: %q is not a code character", in, r)
		}
		s.WriteRune(r)
	}
	if s.Len() != claimLen {
		return "", fmt.Errorf("claim code %q: want %d characters, like ABCD-EFGH", in, claimLen)
	}
	return s.String(), nil
}
