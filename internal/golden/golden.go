// Package golden gives tests on both sides of the wire the contract's golden payloads
// (firmware-protocol/mqttv1/testdata), so the edge and the cloud decode the same bytes,
// and compares a test's output with its golden file.
package golden

import (
	"bytes"
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

// Check compares got with the golden file at path, first rewriting the file when
// update is set (a test's -update flag).
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got\n%s\nwant\n%s\n(-update to accept)", path, got, want)
	}
}
