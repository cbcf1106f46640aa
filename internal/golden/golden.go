// Package golden gives tests on both sides of the wire the contract's golden payloads
// (firmware-protocol/mqttv1/testdata), so the edge and the cloud decode the same bytes.
package golden

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Payload returns the golden payload file name.
func Payload(t testing.TB, name string) []byte {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "firmware-protocol", "mqttv1", "testdata", name))
	if err != nil {
		t.Fatalf("golden payload: %v", err)
	}
	return b
}
