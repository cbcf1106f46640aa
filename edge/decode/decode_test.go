package decode

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// cases are run through Run; stdout plus any error goes to testdata/NAME.golden.
var cases = []struct {
	name string
	args []string
}{
	{"dlt645_read_address", []string{"dlt645", "FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16"}},
	// Several unquoted arguments and several frames in one stream.
	{"dlt645_stream", strings.Fields("dlt645 FE FE FE FE 68 94 41 03 26 12 18 68 93 06 C7 74 36 59 45 4B EB 16 " +
		"FE FE FE FE 68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 33 50 16 " +
		"FE FE FE FE 68 94 41 03 26 12 18 68 91 0D 33 32 35 35 BB 34 33 33 33 33 33 33 33 B9 16")},
	{"dlt645_voltage_block_ff", []string{"dlt645", "681200000010206891 0A333234358955323232322116"}},
	{"dlt645_date_time", []string{"dlt645", "68 12 00 00 00 10 20 68 91 08 34 34 33 37 34 44 34 49 72 16",
		"68 12 00 00 00 10 20 68 91 07 35 34 33 37 88 86 54 DF 16"}},
	{"dlt645_abnormal", []string{"dlt645", "68 12 00 00 00 10 20 68 D1 01 35 19 16"}},
	{"dlt645_energy_block", []string{"dlt645", "68 12 00 00 00 10 20 68 91 18 33 32 34 33 5C 34 33 33 95 33 33 33 93 33 33 33 36 33 33 33 35 33 33 33 74 16"}},
	{"dlt645_bad_checksum", []string{"dlt645", "68 AA AA AA AA AA AA 68 13 00 DF 16 FE FE 68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 55 16"}},
	{"dlt645_truncated", []string{"dlt645", "FE FE 68 12 90 78 56 34 12 68 91 08 33 33"}},
	{"cjt188_reply_clock", []string{"cjt188", "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16"}},
	{"cjt188_reply_ff", []string{"cjt188", "FE FE 68 10 45 41 10 05 15 33 78 81 16 90 1F AA 00 59 59 00 2C FF FF FF FF 2C FF FF FF FF FF FF FF 00 00 C2 16"}},
	{"cjt188_zero_clock", []string{"cjt188", "FE FE FE 68 10 01 00 00 05 08 00 00 81 16 90 1F 00 00 23 01 00 2C 00 00 00 00 2C 00 00 00 00 00 00 00 00 00 48 16"}},
	{"cjt188_request_and_address", []string{"cjt188", "FE FE FE 68 10 AA AA AA AA AA AA AA 01 03 90 1F 01 D2 16",
		"68 10 AA AA AA AA AA AA AA 03 03 0A 81 A7 56 16", "FE FE 68 10 89 67 45 23 01 33 78 83 03 0A 81 A7 34 16"}},
	{"cjt188_error_reply", []string{"cjt188", "68 10 44 33 22 11 00 33 78 C1 03 07 04 00 9C 16"}},
	{"cjt188_bad_checksum", []string{"cjt188", "68 10 88 05 27 10 15 20 00 01 03 90 1F 01 24 16"}},
	{"bad_hex", []string{"cjt188", "68 1"}},
	{"unknown_protocol", []string{"modbus", "01 03"}},
}

func TestGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Run(tc.args, &out); err != nil {
				out.WriteString("error: " + err.Error() + "\n")
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", path, out.String())
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if err := Run([]string{"dlt645"}, &bytes.Buffer{}); err == nil || err.Error() != Usage {
		t.Errorf("err = %v", err)
	}
}

// FuzzRun checks that no hex input makes the CLI panic.
func FuzzRun(f *testing.F) {
	for _, tc := range cases {
		if len(tc.args) > 1 {
			f.Add(tc.args[0] == "dlt645", strings.Join(tc.args[1:], ""))
		}
	}
	f.Fuzz(func(t *testing.T, dlt bool, hexText string) {
		proto := "cjt188"
		if dlt {
			proto = "dlt645"
		}
		_ = Run([]string{proto, hexText}, &bytes.Buffer{})
	})
}
