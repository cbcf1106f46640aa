package dlt645

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// summary renders a decoded frame compactly so expectations fit on one line.
func summary(f *Frame, r *Reading) string {
	var b strings.Builder
	fmt.Fprintf(&b, "addr=%s ctrl=%02X", f.Address, f.Control)
	switch r.Kind {
	case KindNone:
		if f.Function() == CtrlRead || f.Function() == CtrlReadFollow {
			fmt.Fprintf(&b, " di=%s", r.DI)
		}
	case KindValues:
		fmt.Fprintf(&b, " di=%s values=[", r.DI)
		for i := 0; i < r.N; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(r.Values[i].String())
		}
		fmt.Fprintf(&b, "] %s", r.Unit)
	case KindDate:
		if r.Date.OK {
			fmt.Fprintf(&b, " di=%s date=%04d-%02d-%02d wd=%d", r.DI, r.Date.Year, r.Date.Month, r.Date.Day, r.Date.Weekday)
		} else {
			fmt.Fprintf(&b, " di=%s date=null", r.DI)
		}
	case KindTime:
		fmt.Fprintf(&b, " di=%s time=%02d:%02d:%02d", r.DI, r.Time.Hour, r.Time.Minute, r.Time.Second)
	case KindAddress:
		fmt.Fprintf(&b, " meter=%s", r.Address)
	case KindError:
		fmt.Fprintf(&b, " error=%02X", uint8(r.Error))
	case KindRaw:
		fmt.Fprintf(&b, " di=%s raw", r.DI)
	}
	if r.HasSeq {
		fmt.Fprintf(&b, " seq=%d", r.Seq)
	}
	return b.String()
}

// publicFrames are frames published by independent sources. Every checksum was
// recomputed by hand; the ones that are wrong in the source are kept and expect
// ErrChecksum. Sources are GitHub repositories (owner/repo: path) or, where the
// code index did not name the repository, the index id and a quotable context.
var publicFrames = []struct {
	name, source, hex string
	want              string // summary, when the frame is valid
	wantErr           error
	skipped           int // bytes before the first 0x68
}{
	// A GitHub embedded project (code-index id 2902133611) documents a capture
	// dated 2014-11-28 10:38 in a comment "发送→ 13H FE 68 AA … DF 16".
	{name: "capture read address request", source: "code-index id 2902133611 (comment dated 2014-11-28)",
		hex: "FE 68 AA AA AA AA AA AA 68 13 00 DF 16", want: "addr=AAAAAAAAAAAA ctrl=13", skipped: 1},
	{name: "capture read address reply", source: "code-index id 2902133611",
		hex: "68 00 36 19 00 00 00 68 93 06 33 69 4C 33 33 33 39 16", want: "addr=000000193600 ctrl=93 meter=000000193600"},
	{name: "capture read energy block request", source: "code-index id 2902133611",
		hex: "FE 68 00 36 19 00 00 00 68 11 04 33 32 34 33 00 16", want: "addr=000000193600 ctrl=11 di=0001FF00", skipped: 1},
	{name: "capture forward energy block reply", source: "code-index id 2902133611",
		hex:  "68 00 36 19 00 00 00 68 91 18 33 32 34 33 63 69 33 33 89 35 33 33 4C 33 33 33 6B 33 33 33 4A 66 33 33 E9 16",
		want: "addr=000000193600 ctrl=91 di=0001FF00 values=[36.30 2.56 0.19 0.38 33.17] kWh"},
	{name: "firmware constant mPLC_REPLY_ADDR", source: "code-index id 2902133611",
		hex: "FE 68 62 33 19 00 00 00 68 93 06 95 66 4C 33 33 33 F7 16", want: "addr=000000193362 ctrl=93 meter=000000193362", skipped: 1},

	// Meter simulator of a Java test-center app (code-index id 1761512763,
	// "Created by hua on 12/18/15"), request → reply pairs with comments.
	{name: "simulator energy reply with wrong checksum", source: "code-index id 1761512763 (Server.java, first reply)",
		hex:     "68 12 00 00 00 10 20 68 91 18 33 32 34 33 67 5C 33 33 99 3A 33 33 48 39 33 33 B3 37 33 33 A4 43 33 33 5D 16",
		wantErr: ErrChecksum}, // published 0x5D, sum is 0x6D
	{name: "simulator read address reply", source: "code-index id 1761512763",
		hex: "68 12 00 00 00 10 20 68 93 06 45 33 33 33 43 53 1F 16", want: "addr=201000000012 ctrl=93 meter=201000000012"},
	{name: "simulator forward energy block (comment: 1.29, 0.62, 0.6, 0.03, 0.02)", source: "code-index id 1761512763",
		hex:  "68 12 00 00 00 10 20 68 91 18 33 32 34 33 5C 34 33 33 95 33 33 33 93 33 33 33 36 33 33 33 35 33 33 33 74 16",
		want: "addr=201000000012 ctrl=91 di=0001FF00 values=[1.29 0.62 0.60 0.03 0.02] kWh"},
	{name: "simulator voltage block with FF phases (comment: 225.6, -1, -1)", source: "code-index id 1761512763",
		hex:  "68 12 00 00 00 10 20 68 91 0A 33 32 34 35 89 55 32 32 32 32 21 16",
		want: "addr=201000000012 ctrl=91 di=0201FF00 values=[225.6 null null] V"},
	{name: "simulator date (comment: 2016-01-11 星期01)", source: "code-index id 1761512763",
		hex: "68 12 00 00 00 10 20 68 91 08 34 34 33 37 34 44 34 49 72 16", want: "addr=201000000012 ctrl=91 di=04000101 date=2016-01-11 wd=1"},
	{name: "simulator time (comment: 21:53:55)", source: "code-index id 1761512763",
		hex: "68 12 00 00 00 10 20 68 91 07 35 34 33 37 88 86 54 DF 16", want: "addr=201000000012 ctrl=91 di=04000102 time=21:53:55"},
	{name: "simulator abnormal reply (comment: ERR2 无请求数据)", source: "code-index id 1761512763",
		hex: "68 12 00 00 00 10 20 68 D1 01 35 19 16", want: "addr=201000000012 ctrl=D1 error=02"},

	// Hongranl/stm32f103x, sourceCM.c (STM32 RS-485 meter reader), replies in comments.
	{name: "stm32 read address reply", source: "Hongranl/stm32f103x: Module/Source_CM*/sourceCM.c (code-index id 39772389129)",
		hex: "FE FE FE FE 68 94 41 03 26 12 18 68 93 06 C7 74 36 59 45 4B EB 16", want: "addr=181226034194 ctrl=93 meter=181226034194", skipped: 4},
	{name: "stm32 forward active total", source: "Hongranl/stm32f103x sourceCM.c",
		hex: "FE FE FE FE 68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 33 50 16", want: "addr=181226034194 ctrl=91 di=00010000 values=[0.26] kWh", skipped: 4},
	{name: "stm32 voltage block", source: "Hongranl/stm32f103x sourceCM.c",
		hex: "FE FE FE FE 68 94 41 03 26 12 18 68 91 0A 33 32 34 35 36 56 33 33 33 33 B9 16", want: "addr=181226034194 ctrl=91 di=0201FF00 values=[230.3 0.0 0.0] V", skipped: 4},
	{name: "stm32 current block", source: "Hongranl/stm32f103x sourceCM.c",
		hex: "FE FE FE FE 68 94 41 03 26 12 18 68 91 0D 33 32 35 35 BB 34 33 33 33 33 33 33 33 B9 16", want: "addr=181226034194 ctrl=91 di=0202FF00 values=[0.188 0.000 0.000] A", skipped: 4},

	// emillaii/iotDevice: code/production.lua — request table; most checksums
	// were copy-pasted (0x22) and are wrong.
	{name: "lua request power, wrong checksum", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 33 33 36 35 24 16", wantErr: ErrChecksum}, // sum 0x23
	{name: "lua request current A", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 33 34 35 35 23 16", want: "addr=240309855761 ctrl=11 di=02020100"},
	{name: "lua request voltage A", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 33 34 34 35 22 16", want: "addr=240309855761 ctrl=11 di=02010100"},
	{name: "lua request combined total, wrong checksum", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 33 33 33 33 22 16", wantErr: ErrChecksum}, // sum 0x1E
	{name: "lua request date, wrong checksum", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 34 34 33 37 22 16", wantErr: ErrChecksum}, // sum 0x24
	{name: "lua request forward total, wrong checksum", source: "emillaii/iotDevice: code/production.lua",
		hex: "68 61 57 85 09 03 24 68 11 04 33 33 34 33 22 16", wantErr: ErrChecksum}, // sum 0x1F

	// Other independent captures and docs.
	{name: "java decoder doc read address reply", source: "code-index id 17054787080 (decode_dlt645_2007 comment)",
		hex: "FE FE FE FE 68 20 64 31 32 03 00 68 93 06 53 97 64 65 36 33 6F 16", want: "addr=000332316420 ctrl=93 meter=000332316420", skipped: 4},
	{name: "python tool example with garbage before frame", source: "code-index id 32293935015 (frame = 'FE FE aa aa 68 22 …')",
		hex: "FE FE aa aa 68 22 22 22 22 22 22 68 93 06 55 55 55 55 55 55 33 16", want: "addr=222222222222 ctrl=93 meter=222222222222", skipped: 4},
	{name: "delphi comment read address reply", source: "code-index id 48358296744 (ParsePackReadAddr)",
		hex: "68 01 00 00 00 00 00 68 93 06 34 33 33 33 33 33 9D 16", want: "addr=000000000001 ctrl=93 meter=000000000001"},
	{name: "C hplc read address reply", source: "code-index id 12435272201 (hplc_645_addr_response)",
		hex: "68 32 00 00 00 00 00 68 93 06 65 33 33 33 33 33 FF 16", want: "addr=000000000032 ctrl=93 meter=000000000032"},

	// A C# DL/T 645 library's unit tests (code-index id 70837828970,
	// Dlt645.Core.Tests FrameCodecTests): hand-computed frames.
	{name: "csharp wildcard read forward total", source: "code-index id 70837828970",
		hex: "FE FE FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16", want: "addr=AAAAAAAAAAAA ctrl=11 di=00010000", skipped: 4},
	{name: "csharp read follow-up request", source: "code-index id 70837828970",
		hex: "68 12 90 78 56 34 12 68 12 05 34 33 63 36 34 D1 16", want: "addr=123456789012 ctrl=12 di=03300001"},
	{name: "csharp forward total reply", source: "code-index id 70837828970",
		hex: "68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 16", want: "addr=123456789012 ctrl=91 di=00010000 values=[1234.56] kWh"},
	{name: "csharp seven wake-up bytes", source: "code-index id 70837828970",
		hex: "FE FE FE FE FE FE FE 68 12 90 78 56 34 12 68 93 06 45 C3 AB 89 67 45 07 16", want: "addr=123456789012 ctrl=93 meter=123456789012", skipped: 7},
	{name: "csharp abnormal reply", source: "code-index id 70837828970",
		hex: "68 12 90 78 56 34 12 68 D1 01 35 8D 16", want: "addr=123456789012 ctrl=D1 error=02"},
	{name: "csharp checksum error case", source: "code-index id 70837828970 (Scan_ChecksumError_ReportsReason)",
		hex: "68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 55 16", wantErr: ErrChecksum},
}

func TestPublicFrames(t *testing.T) {
	for _, tc := range publicFrames {
		t.Run(tc.name, func(t *testing.T) {
			buf := mustHex(t, tc.hex)
			var f Frame
			// Decode expects wake-up bytes only; garbage goes through Find.
			s, e, _ := Find(buf)
			if tc.wantErr != nil {
				_, err := Decode(buf, &f)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Decode error = %v, want %v", err, tc.wantErr)
				}
				if e > s {
					t.Fatalf("Find accepted a frame that should fail")
				}
				return
			}
			if s != tc.skipped || e != len(buf) {
				t.Fatalf("Find = %d..%d, want %d..%d", s, e, tc.skipped, len(buf))
			}
			n, err := Decode(buf[s:], &f)
			if err != nil || n != len(buf)-s {
				t.Fatalf("Decode = %d, %v", n, err)
			}
			var r Reading
			if err := ParseReading(&f, &r); err != nil {
				t.Fatalf("ParseReading: %v", err)
			}
			if got := summary(&f, &r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestAnnotatedFrames spells out two frames byte by byte, so the layout in the
// spec is checked by the compiler as well as by readers.
func TestAnnotatedFrames(t *testing.T) {
	request := []byte{
		0xFE, 0xFE, 0xFE, 0xFE, // wake-up
		0x68,                               // start
		0x12, 0x90, 0x78, 0x56, 0x34, 0x12, // address 123456789012, low byte first
		0x68,                   // second start
		0x11,                   // control: read data
		0x04,                   // length
		0x33, 0x33, 0x34, 0x33, // DI 00010000 low byte first, each +0x33
		0x68, // checksum: 68+12+90+78+56+34+12+68+11+04+33+33+34+33 = 0x368 → 0x68
		0x16, // end
	}
	addr, _ := ParseAddress("123456789012")
	got := AppendReadRequest(AppendWakeUp(nil, 4), addr, DIForwardActiveTotal)
	if !bytes.Equal(got, request) {
		t.Errorf("AppendReadRequest = % X\nwant               % X", got, request)
	}

	reply := []byte{
		0x68,
		0x12, 0x90, 0x78, 0x56, 0x34, 0x12, // address
		0x68,
		0x91,                   // control: normal reply to read
		0x07,                   // length: DI (4) + value (3)
		0x33, 0x34, 0x35, 0x35, // DI 02020100 (current A) +0x33
		0x67, 0x45, 0xB3, // -0x33 → 34 12 80; MSB first 80 12 34; bit 7 is the sign → -1.234 A
		0x4E, // checksum: sum of 68 … B3 = 0x54E → 0x4E
		0x16,
	}
	var f Frame
	if _, err := Decode(reply, &f); err != nil {
		t.Fatal(err)
	}
	var r Reading
	if err := ParseReading(&f, &r); err != nil {
		t.Fatal(err)
	}
	if v := r.Value(); r.DI != DICurrentA || r.Unit != UnitAmpere || v.String() != "-1.234" {
		t.Errorf("got DI %s %s %s", r.DI, v, r.Unit)
	}
}

func TestErrors(t *testing.T) {
	good := "68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 16"
	tests := []struct {
		name, hex, msg string
		kind           error
	}{
		{"checksum", "68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 55 16", "dlt645: byte 18: checksum 0x55, computed 0x54", ErrChecksum},
		{"checksum after wake-up", "FE FE 68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 55 16", "dlt645: byte 20: checksum 0x55, computed 0x54", ErrChecksum},
		{"end byte", "68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 17", "dlt645: byte 19: end byte 0x17, expected 0x16", ErrSyntax},
		{"second start", "68 12 90 78 56 34 12 69 91 08 33 33 34 33 89 67 45 33 54 16", "dlt645: byte 7: second start byte 0x69, expected 0x68", ErrSyntax},
		{"truncated", "FE FE 68 12 90 78 56 34 12 68 91 08 33 33", "dlt645: byte 14: frame truncated: 20-byte frame, 12 bytes present", ErrTruncated},
		{"truncated header", "68 12 90", "dlt645: byte 3: frame truncated: 12-byte frame, 3 bytes present", ErrTruncated},
		{"only wake-up", "FE FE FE FE", "dlt645: byte 4: no start byte 0x68 found (4 bytes)", ErrNoFrame},
		{"garbage", "00 68", "dlt645: byte 0: no start byte 0x68 found (2 bytes)", ErrSyntax},
	}
	_ = good
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			_, err := Decode(mustHex(t, tc.hex), &f)
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("err = %v\nwant  %s", err, tc.msg)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("errors.Is(%v) false", tc.kind)
			}
		})
	}
}

func TestParseReadingErrors(t *testing.T) {
	addr, _ := ParseAddress("1")
	tests := []struct {
		name string
		data []byte // without offset
		ctrl byte
		msg  string
	}{
		{"bad bcd", []byte{0x00, 0x00, 0x01, 0x00, 0x5A, 0x00, 0x00, 0x00}, CtrlReadReply, "dlt645: DI 00010000: data byte 4: invalid BCD 0x5A"},
		{"short", []byte{0x00, 0x00, 0x01, 0x00, 0x00}, CtrlReadReply, "dlt645: DI 00010000: data byte 4: 1 value bytes, expected 4"},
		{"no DI", []byte{0x00}, CtrlReadReply, "dlt645: DI 00000000: data byte 1: reply has 1 data bytes, expected at least 4 (DI)"},
		{"abnormal size", []byte{1, 2}, CtrlReadError, "dlt645: DI 00000000: data byte 2: abnormal reply has 2 data bytes, expected 1 (error byte)"},
		{"bad date", []byte{0x01, 0x01, 0x00, 0x04, 0x01, 0x32, 0x01, 0x16}, CtrlReadReply, "dlt645: DI 04000101: data byte 4: date 01-32 weekday 1 out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := AppendFrame(nil, addr, tc.ctrl, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			if _, err := Decode(raw, &f); err != nil {
				t.Fatal(err)
			}
			var r Reading
			err = ParseReading(&f, &r)
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("err = %v\nwant  %s", err, tc.msg)
			}
		})
	}
}

func TestErrorBitNames(t *testing.T) {
	all := ErrorBits(0xFF).Names()
	want := []string{"其他错误", "无请求数据", "密码错/未授权", "通信速率不能更改", "年时区数超", "日时段数超", "费率数超", "保留"}
	if len(all) != 8 {
		t.Fatalf("got %d names", len(all))
	}
	for i, w := range want {
		if !strings.Contains(all[i], w) {
			t.Errorf("bit %d name %q lacks %q", i, all[i], w)
		}
	}
	if got := (ErrNoData | ErrUnauthorized).Names(); len(got) != 2 {
		t.Errorf("Names(0x06) = %v", got)
	}
}

func TestRoundTrip(t *testing.T) {
	addr, _ := ParseAddress("201000000012")
	readings := []Reading{
		{DI: DIForwardActiveTotal, N: 1, Values: [MaxValues]Value{{Int: 123456, Decimals: 2, OK: true}}},
		{DI: DICombinedActiveTotal, N: 1, Values: [MaxValues]Value{{Int: -150, Decimals: 2, OK: true}}},
		{DI: DIVoltageBlock, N: 3, Values: [MaxValues]Value{{Int: 2201, Decimals: 1, OK: true}, {}, {Int: 0, Decimals: 1, OK: true}}},
		{DI: DICurrentA, N: 1, Values: [MaxValues]Value{{Int: -1234, Decimals: 3, OK: true}}},
		{DI: DIActivePowerTotal, N: 1, Values: [MaxValues]Value{{Int: -12345, Decimals: 4, OK: true}}},
		{DI: DIPowerFactorTotal, N: 1, Values: [MaxValues]Value{{Int: 998, Decimals: 3, OK: true}}},
		{DI: DIDate, Date: Date{Year: 2026, Month: 3, Day: 14, Weekday: 6, OK: true}},
		{DI: DITime, Time: TimeOfDay{Hour: 23, Minute: 5, Second: 9, OK: true}},
	}
	for _, in := range readings {
		t.Run(in.DI.String(), func(t *testing.T) {
			raw, err := AppendReadReply(nil, addr, &in)
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			if _, err := Decode(raw, &f); err != nil {
				t.Fatal(err)
			}
			var out Reading
			if err := ParseReading(&f, &out); err != nil {
				t.Fatal(err)
			}
			if out.Kind == KindValues {
				for i := 0; i < out.N; i++ {
					if out.Values[i].String() != in.Values[i].String() {
						t.Errorf("value %d: got %s want %s", i, out.Values[i], in.Values[i])
					}
				}
			}
			if out.Date != in.Date || out.Time != in.Time || out.DI != in.DI {
				t.Errorf("got %+v", out)
			}
		})
	}
	// Values that do not fit are refused rather than wrapped.
	bad := Reading{DI: DIVoltageA, N: 1, Values: [MaxValues]Value{{Int: -1, Decimals: 1, OK: true}}}
	if _, err := AppendReadReply(nil, addr, &bad); err == nil {
		t.Error("negative voltage accepted")
	}
	bad = Reading{DI: DICurrentA, N: 1, Values: [MaxValues]Value{{Int: 800000, Decimals: 3, OK: true}}}
	if _, err := AppendReadReply(nil, addr, &bad); err == nil {
		t.Error("800.000 A accepted in XXX.XXX signed")
	}
}

func TestEncoders(t *testing.T) {
	addr, _ := ParseAddress("201000000012")
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		// Matches the frame published in dozens of projects (see TestPublicFrames).
		{"read address", AppendReadAddressRequest(AppendWakeUp(nil, 4)), "FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16"},
		{"read address reply", AppendReadAddressReply(nil, addr), "68 12 00 00 00 10 20 68 93 06 45 33 33 33 43 53 1F 16"},
		{"error reply", AppendErrorReply(nil, addr, CtrlRead, ErrNoData), "68 12 00 00 00 10 20 68 D1 01 35 19 16"},
		{"follow-up", AppendReadFollowRequest(nil, mustAddr("123456789012"), 0x03300001, 1), "68 12 90 78 56 34 12 68 12 05 34 33 63 36 34 D1 16"},
		// 2026-03-14 09:08:07 → 07 08 09 14 03 26, +0x33 each.
		{"broadcast time", AppendBroadcastTime(nil, time.Date(2026, 3, 14, 9, 8, 7, 0, time.UTC)), "68 99 99 99 99 99 99 68 08 06 3A 3B 3C 47 36 59 FB 16"},
	}
	for _, tc := range tests {
		if want := mustHex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: got % X\nwant  % X", tc.name, tc.got, want)
		}
	}
}

func mustAddr(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestAddress(t *testing.T) {
	a := mustAddr("201000000012")
	if a != (Address{0x12, 0x00, 0x00, 0x00, 0x10, 0x20}) {
		t.Errorf("wire order % X", a[:])
	}
	if a.String() != "201000000012" || mustAddr("12").String() != "000000000012" {
		t.Errorf("String = %s", a)
	}
	if _, err := ParseAddress("12x"); err == nil {
		t.Error("accepted x")
	}
}

func TestScanner(t *testing.T) {
	stream := mustHex(t, ""+
		"00 11 22 "+ // line noise
		"FE FE FE FE 68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 16 "+
		"68 12 90 78 56 34 "+ // a frame cut short by a collision
		"FE FE 68 12 00 00 00 10 20 68 D1 01 35 19 16 "+
		"68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 55 16 "+ // bad checksum
		"68 12 00 00 00 10 20 68 93 06 45 33 33 33 43 53 1F 16 "+
		"FE FE 68 12") // partial at EOF
	for _, chunk := range []int{1, 3, 7, len(stream)} {
		t.Run(fmt.Sprint("chunk", chunk), func(t *testing.T) {
			s := NewScanner(&chunkReader{b: stream, n: chunk})
			var got []string
			for s.Scan() {
				var r Reading
				_ = ParseReading(s.Frame(), &r)
				got = append(got, fmt.Sprintf("skip %d: %s", s.Skipped(), summary(s.Frame(), &r)))
			}
			got = append(got, fmt.Sprintf("trailing %d", s.Skipped()))
			want := []string{
				"skip 7: addr=123456789012 ctrl=91 di=00010000 values=[1234.56] kWh",
				"skip 8: addr=201000000012 ctrl=D1 error=02",
				"skip 20: addr=201000000012 ctrl=93 meter=201000000012",
				"trailing 4",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if s.Err() != nil {
				t.Error(s.Err())
			}
		})
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, errEOF
	}
	n := min(c.n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

var errEOF = io.EOF
