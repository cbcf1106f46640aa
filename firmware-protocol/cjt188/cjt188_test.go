package cjt188

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
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func summary(f *Frame, r *Reading) string {
	var b strings.Builder
	fmt.Fprintf(&b, "type=%02X addr=%s ctrl=%02X", uint8(f.Type), f.Address, f.Control)
	if r.HasDI {
		fmt.Fprintf(&b, " di=%s/%s", r.DI, r.DIOrder)
	}
	fmt.Fprintf(&b, " ser=%02X", r.SER)
	switch r.Kind {
	case KindMeterData:
		fmt.Fprintf(&b, " cur=%s %s set=%s %s", r.CurrentFlow, r.CurrentUnit, r.SettlementFlow, r.SettlementUnit)
		if r.Clock.OK {
			fmt.Fprintf(&b, " clock=%s", r.Clock.Time(time.UTC).Format("2006-01-02T15:04:05"))
		} else {
			b.WriteString(" clock=null")
		}
	case KindError:
		b.WriteString(" error")
	case KindAddress:
		b.WriteString(" address")
	case KindRaw:
		b.WriteString(" raw")
	}
	if r.Status.OK {
		fmt.Fprintf(&b, " st=%02X%02X valve=%s battery_low=%t", r.Status.ST1, r.Status.ST2, r.Status.Valve(), r.Status.BatteryLow())
	} else if r.Kind == KindMeterData || r.Kind == KindError {
		b.WriteString(" st=null")
	}
	return b.String()
}

// publicFrames were published by independent sources; every checksum was
// recomputed, and frames whose published checksum is wrong expect ErrChecksum.
var publicFrames = []struct {
	name, source, hex string
	want              string
	wantErr           error
	skipped           int
}{
	// hupengwu/Fox-Edge-Server, a Java edge gateway.
	{name: "fox-edge read request, DI low-first", source: "hupengwu/Fox-Edge-Server: fox-edge-server-protocol/fox-edge-server-protocol-cjt188/src/main/java/cn/foxtech/device/protocol/v1/cjt188/Demo.java",
		hex: "68 10 01 00 00 05 08 00 00 01 03 1F 90 00 39 16", want: "type=10 addr=00000805000001 ctrl=01 di=901F/low-first ser=00"},
	{name: "fox-edge 901F reply, zero clock", source: "hupengwu/Fox-Edge-Server Demo.java",
		hex:     "FE FE FE 68 10 01 00 00 05 08 00 00 81 16 90 1F 00 00 23 01 00 2C 00 00 00 00 2C 00 00 00 00 00 00 00 00 00 48 16",
		skipped: 3, want: "type=10 addr=00000805000001 ctrl=81 di=901F/high-first ser=00 cur=123.00 m³ set=0.00 m³ clock=null st=0000 valve=open battery_low=false"},
	{name: "fox-edge 901F reply, ST2=FF", source: "hupengwu/Fox-Edge-Server Demo.java",
		hex:     "FE FE FE 68 10 18 02 12 20 20 00 00 81 16 90 1F 00 00 02 00 00 2C 00 02 00 00 2C 00 00 00 00 00 00 00 00 FF 85 16",
		skipped: 3, want: "type=10 addr=00002020120218 ctrl=81 di=901F/high-first ser=00 cur=2.00 m³ set=2.00 m³ clock=null st=00FF valve=open battery_low=false"},
	{name: "fox-edge 901F reply with clock, DI low-first", source: "hupengwu/Fox-Edge-Server Demo.java",
		hex:  "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16",
		want: "type=10 addr=78330011223344 ctrl=81 di=901F/low-first ser=00 cur=556677.00 m³ set=556677.00 m³ clock=2015-05-11T22:01:31 st=2184 valve=closed battery_low=false"},
	{name: "fox-edge read address reply", source: "hupengwu/Fox-Edge-Server Demo.java",
		hex: "68 10 01 00 00 05 08 00 00 83 03 81 0A 00 97 16", want: "type=10 addr=00000805000001 ctrl=83 di=810A/high-first ser=00 address"},

	// A Go IoT gateway (code-index id 34103005706, package devices, 水表 reader):
	// annotated captures in a comment, one flagged "回复数据的校验值不对".
	{name: "go gateway read address request", source: "code-index id 34103005706",
		hex: "68 10 AA AA AA AA AA AA AA 03 03 0A 81 A7 56 16", want: "type=10 addr=AAAAAAAAAAAAAA ctrl=03 di=810A/low-first ser=A7"},
	{name: "go gateway read address reply", source: "code-index id 34103005706",
		hex: "FE FE 68 10 89 67 45 23 01 33 78 83 03 0A 81 A7 34 16", skipped: 2, want: "type=10 addr=78330123456789 ctrl=83 di=810A/low-first ser=A7 address"},
	{name: "go gateway read request", source: "code-index id 34103005706",
		hex: "FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16", skipped: 4, want: "type=10 addr=78330011223344 ctrl=01 di=901F/low-first ser=00"},
	{name: "go gateway reply flagged as wrong checksum", source: "code-index id 34103005706 (\"回复数据的校验值不对\")",
		hex: "FE FE FE FE 68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 08 16", wantErr: ErrChecksum}, // published 0x08, sum 0x13
	{name: "go gateway wildcard read, SER AA", source: "code-index id 34103005706",
		hex: "FE FE 68 10 AA AA AA AA AA AA AA 01 03 1F 90 AA 7B 16", skipped: 2, want: "type=10 addr=AAAAAAAAAAAAAA ctrl=01 di=901F/low-first ser=AA"},
	{name: "go gateway real reply with FF fields", source: "code-index id 34103005706 (readSB comment)",
		hex:     "FE FE 68 10 45 41 10 05 15 33 78 81 16 90 1F AA 00 59 59 00 2C FF FF FF FF 2C FF FF FF FF FF FF FF 00 00 C2 16",
		skipped: 2, want: "type=10 addr=78331505104145 ctrl=81 di=901F/high-first ser=AA cur=5959.00 m³ set=null m³ clock=null st=0000 valve=open battery_low=false"},

	// Lua 4G water-meter firmware ("万能读表指令", code-index id 46034535215 and siblings).
	{name: "lua universal read", source: "code-index id 46034535215 (\"万能读表指令\")",
		hex: "FE FE FE 68 10 AA AA AA AA AA AA AA 01 03 90 1F 01 D2 16", skipped: 3, want: "type=10 addr=AAAAAAAAAAAAAA ctrl=01 di=901F/high-first ser=01"},
	{name: "lua captured reply", source: "code-index id 45468635436 (comment in receive callback)",
		hex:     "FE FE FE 68 10 18 00 00 40 40 92 00 81 16 90 1F 00 29 00 00 00 2C 29 00 00 00 2C 00 00 00 00 00 00 00 00 23 B5 16",
		skipped: 3, want: "type=10 addr=00924040000018 ctrl=81 di=901F/high-first ser=00 cur=0.29 m³ set=0.29 m³ clock=null st=0023 valve=open battery_low=false"},

	// Python CJT188 implementation doctests (code-index id 26154854732).
	{name: "python doctest request", source: "code-index id 26154854732 (CJT188Protocol doctest)",
		hex: "68 10 AA AA AA AA AA AA AA 01 03 90 1F 90 61 16", want: "type=10 addr=AAAAAAAAAAAAAA ctrl=01 di=901F/high-first ser=90"},
	{name: "python doctest reply after garbage", source: "code-index id 26154854732 (find_frame_in_buff doctest)",
		hex:     "00 00 00 00 FE FE FE FE FE FE 68 10 01 02 03 04 05 06 07 81 16 90 1F 96 00 55 55 05 2C 00 55 55 05 2C 00 00 00 00 00 00 00 00 00 26 16",
		skipped: 10, want: "type=10 addr=07060504030201 ctrl=81 di=901F/high-first ser=96 cur=55555.00 m³ set=55555.00 m³ clock=null st=0000 valve=open battery_low=false"},

	// C# unit tests of a CJ/T 188-2004 frame class (code-index id 83574551).
	{name: "csharp request", source: "code-index id 83574551 (FrameCJT188_2004 test)",
		hex: "68 10 88 05 27 10 15 20 00 01 03 90 1F 01 25 16", want: "type=10 addr=00201510270588 ctrl=01 di=901F/high-first ser=01"},
	{name: "csharp reply with clock", source: "code-index id 83574551",
		hex:  "68 10 88 05 27 10 15 20 00 81 16 90 1F 01 00 00 00 00 2C 00 00 00 00 2C 06 20 17 09 01 17 20 00 00 8E 16",
		want: "type=10 addr=00201510270588 ctrl=81 di=901F/high-first ser=01 cur=0.00 m³ set=0.00 m³ clock=2017-01-09T17:20:06 st=0000 valve=open battery_low=false"},
	{name: "csharp IsProtocolSample, wrong checksum", source: "code-index id 83574551 (IsProtocolSample)",
		hex: "68 10 88 05 27 10 15 20 00 01 03 90 1F 01 24 16", wantErr: ErrChecksum}, // sum 0x25

	// Java helper tests (code-index id 27556822879).
	{name: "java reply with impossible clock", source: "code-index id 27556822879 (ReceiveDataHelper)",
		hex:  "68 10 01 00 23 09 18 20 00 81 16 90 1F 01 60 00 00 00 2C 60 00 00 00 2C 60 20 20 00 00 00 00 00 00 DC 16",
		want: "type=10 addr=00201809230001 ctrl=81 di=901F/high-first ser=01 cur=0.60 m³ set=0.60 m³ clock=null st=0000 valve=open battery_low=false"},
	{name: "java reply", source: "code-index id 27556822879",
		hex:  "68 10 92 01 00 10 00 00 00 81 16 90 1F 01 00 22 22 00 2C 00 00 00 00 2C 00 00 00 00 00 00 00 00 00 FE 16",
		want: "type=10 addr=00000010000192 ctrl=81 di=901F/high-first ser=01 cur=2222.00 m³ set=0.00 m³ clock=null st=0000 valve=open battery_low=false"},
	{name: "java frame with a 5-byte address", source: "code-index id 27556822879 (first ReceiveDataHelper string)",
		hex: "68 AA 01 00 05 08 00 81 16 1F 90 00 00 76 98 00 2C 99 99 99 99 2C 99 99 99 99 99 99 99 00 00 5F 16", wantErr: ErrTruncated},
}

func TestPublicFrames(t *testing.T) {
	for _, tc := range publicFrames {
		t.Run(tc.name, func(t *testing.T) {
			buf := mustHex(t, tc.hex)
			var f Frame
			if tc.wantErr != nil {
				_, err := Decode(buf, &f)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Decode error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			s, e, _ := Find(buf)
			if s != tc.skipped || e != len(buf) {
				t.Fatalf("Find = %d..%d, want %d..%d", s, e, tc.skipped, len(buf))
			}
			if _, err := Decode(buf[s:], &f); err != nil {
				t.Fatal(err)
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

func TestAnnotatedFrame(t *testing.T) {
	reply := []byte{
		0x68,                                     // start
		0x10,                                     // T: cold water meter
		0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78, // address 78330011223344, low byte first
		0x81,       // control: reply to read data
		0x16,       // length 22: DI 2 + SER 1 + 19
		0x1F, 0x90, // DI 901F, this vendor sends the low byte first
		0x00,                   // SER
		0x00, 0x77, 0x66, 0x55, // current flow 556677.00, BCD low byte first
		0x2C,                   // unit m³
		0x00, 0x77, 0x66, 0x55, // settlement-day flow 556677.00
		0x2C,                                     // unit m³
		0x31, 0x01, 0x22, 0x11, 0x05, 0x15, 0x20, // clock ss mm hh DD MM YY CC → 2015-05-11 22:01:31
		0x21, // ST1: bits 0-1 = 01 valve closed; bit 2 = 0 battery ok
		0x84, // ST2: vendor-defined
		0x13, // checksum: sum of 68 … 84 = 0x713 → 0x13
		0x16, // end
	}
	var f Frame
	if _, err := Decode(reply, &f); err != nil {
		t.Fatal(err)
	}
	addr, _ := ParseAddress("78330011223344")
	again, err := AppendMeterDataReply(nil, TypeColdWater, addr, 0, DILowFirst, &MeterData{
		CurrentFlow: Value{Int: 55667700, Decimals: 2, OK: true}, SettlementFlow: Value{Int: 556677, OK: true},
		Unit: UnitM3, Clock: time.Date(2015, 5, 11, 22, 1, 31, 0, time.Local), HasClock: true,
		Status: Status{ST1: 0x21, ST2: 0x84, OK: true},
	})
	if err != nil || !bytes.Equal(again, reply) {
		t.Errorf("AppendMeterDataReply = % X (%v)\nwant % X", again, err, reply)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, hex, msg string
		kind           error
	}{
		{"checksum", "68 10 88 05 27 10 15 20 00 01 03 90 1F 01 24 16", "cjt188: byte 14: checksum 0x24, computed 0x25", ErrChecksum},
		{"end", "FE 68 10 88 05 27 10 15 20 00 01 03 90 1F 01 25 00", "cjt188: byte 16: end byte 0x00, expected 0x16", ErrSyntax},
		{"truncated", "68 10 88 05 27 10 15 20 00 01 03 90", "cjt188: byte 12: frame truncated: 16-byte frame, 12 bytes present", ErrTruncated},
		{"nothing", "FE FE", "cjt188: byte 2: no start byte 0x68 found (2 bytes)", ErrNoFrame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			_, err := Decode(mustHex(t, tc.hex), &f)
			if err == nil || err.Error() != tc.msg || !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v\nwant  %s", err, tc.msg)
			}
		})
	}
	// Payload errors.
	addr, _ := ParseAddress("1")
	raw, _ := AppendFrame(nil, TypeColdWater, addr, CtrlReadReply, []byte{0x90, 0x1F, 0, 0x0A, 0, 0, 0, 0x2C})
	var f Frame
	if _, err := Decode(raw, &f); err != nil {
		t.Fatal(err)
	}
	var r Reading
	if err := ParseReading(&f, &r); err == nil || err.Error() != "cjt188: DI 901F: data byte 8: 5 bytes after SER, expected 19" {
		t.Errorf("short 901F: %v", err)
	}
	full := append([]byte{0x90, 0x1F, 0, 0x0A, 0, 0, 0}, make([]byte, 15)...)
	raw, _ = AppendFrame(nil, TypeColdWater, addr, CtrlReadReply, full)
	_, _ = Decode(raw, &f)
	if err := ParseReading(&f, &r); err == nil || err.Error() != "cjt188: DI 901F: data byte 3: invalid BCD 0x0A" {
		t.Errorf("bad BCD: %v", err)
	}
}

func TestErrorReply(t *testing.T) {
	addr, _ := ParseAddress("78330011223344")
	raw := AppendErrorReply(nil, TypeColdWater, addr, CtrlRead, 7, Status{ST1: 0x07, ST2: 0x00})
	var f Frame
	if _, err := Decode(raw, &f); err != nil {
		t.Fatal(err)
	}
	var r Reading
	if err := ParseReading(&f, &r); err != nil {
		t.Fatal(err)
	}
	if got := summary(&f, &r); got != "type=10 addr=78330011223344 ctrl=C1 ser=07 error st=0700 valve=abnormal battery_low=true" {
		t.Errorf("got %s", got)
	}
}

func TestEncoders(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"universal read, high-first", AppendReadRequest(AppendWakeUp(nil, 3), TypeColdWater, Wildcard, DIMeterData, 1, DIHighFirst),
			"FE FE FE 68 10 AA AA AA AA AA AA AA 01 03 90 1F 01 D2 16"},
		{"read, low-first", AppendReadRequest(nil, TypeColdWater, mustAddr("78330011223344"), DIMeterData, 0, DILowFirst),
			"68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16"},
		{"read address", AppendReadAddressRequest(nil, TypeColdWater, 0xA7, DILowFirst),
			"68 10 AA AA AA AA AA AA AA 03 03 0A 81 A7 56 16"},
		{"address reply", AppendAddressReply(nil, TypeColdWater, mustAddr("00000805000001"), 0, DIHighFirst),
			"68 10 01 00 00 05 08 00 00 83 03 81 0A 00 97 16"},
	}
	for _, tc := range tests {
		if want := mustHex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: got % X\nwant  % X", tc.name, tc.got, want)
		}
	}
	// FF for absent fields, as the Go gateway capture shows.
	m := MeterData{CurrentFlow: Value{Int: 595900, Decimals: 2, OK: true}, Unit: UnitM3, Status: Status{OK: true}}
	got, err := AppendMeterDataReply(AppendWakeUp(nil, 2), TypeColdWater, mustAddr("78331505104145"), 0xAA, DIHighFirst, &m)
	want := mustHex(t, "FE FE 68 10 45 41 10 05 15 33 78 81 16 90 1F AA 00 59 59 00 2C FF FF FF FF 2C FF FF FF FF FF FF FF 00 00 C2 16")
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("FF reply: got % X (%v)", got, err)
	}
}

func mustAddr(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMeterTypeNames(t *testing.T) {
	for _, c := range []struct {
		t    MeterType
		want string
	}{{0x10, "cold water"}, {0x11, "hot water"}, {0x12, "drinking water"}, {0x13, "reclaimed water"},
		{0x20, "heat (cooling)"}, {0x21, "heat (heating)"}, {0x30, "gas"}, {0x40, "electricity"}, {0x55, "type 0x55"}} {
		if c.t.String() != c.want {
			t.Errorf("%02X: %s", uint8(c.t), c.t)
		}
	}
}

func TestScanner(t *testing.T) {
	stream := mustHex(t, "00 01 02 "+
		"FE FE 68 10 45 41 10 05 15 33 78 81 16 90 1F AA 00 59 59 00 2C FF FF FF FF 2C FF FF FF FF FF FF FF 00 00 C2 16 "+
		"68 10 88 05 27 10 15 "+ // cut short
		"68 10 88 05 27 10 15 20 00 01 03 90 1F 01 25 16 "+
		"FE FE")
	for _, chunk := range []int{1, 5, len(stream)} {
		s := NewScanner(&chunkReader{b: stream, n: chunk})
		var got []string
		for s.Scan() {
			got = append(got, fmt.Sprintf("%d:%s", s.Skipped(), s.Frame().Address))
		}
		got = append(got, fmt.Sprint("trailing ", s.Skipped()))
		if want := "5:78331505104145 7:00201510270588 trailing 2"; strings.Join(got, " ") != want {
			t.Errorf("chunk %d: %s", chunk, strings.Join(got, " "))
		}
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(c.n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}
