package sensornode

import (
	"bytes"
	"errors"
	"testing"
)

func TestChecksumCheckValue(t *testing.T) {
	// The catalogue check value of CRC-16/IBM-3740 (CCITT-FALSE).
	if got := Checksum([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("Checksum(123456789) = 0x%04X, want 0x29B1", got)
	}
	// Residue: running the CRC over a frame including its big-endian CRC
	// yields 0, the cheap check firmware can use.
	f := AppendEvent(nil, 0x0A0B0C0D, 1, EventSOS, 87, 0)
	if got := Checksum(f[offVer:]); got != 0 {
		t.Fatalf("residue = 0x%04X, want 0", got)
	}
}

// Annotated frames, one byte group per line, in the style of mochi-mqtt's
// packet tests. They double as spec examples.
var rawFrames = []struct {
	name  string
	raw   []byte
	frame Frame
}{
	{
		name: "SOS from pendant",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x0A,                   // length: 10 body bytes
			0x01,                   // kind: event
			0x00,                   // flags: none
			0x0A, 0x0B, 0x0C, 0x0D, // node 0A0B0C0D
			0x00, 0x01, // seq 1
			0x10,       // event: SOS
			0x57,       // battery 87 %
			0x04, 0x6F, // CRC over version..battery
		},
		frame: Frame{Kind: KindEvent, Node: 0x0A0B0C0D, Seq: 1, Event: EventSOS, Battery: 87},
	},
	{
		name: "ACK of that SOS",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x08,                   // length: 8 body bytes
			0x81,                   // kind: ack (downlink)
			0x00,                   // flags: reserved
			0x0A, 0x0B, 0x0C, 0x0D, // node being acknowledged
			0x00, 0x01, // seq being acknowledged
			0x6A, 0x6E, // CRC
		},
		frame: Frame{Kind: KindAck, Node: 0x0A0B0C0D, Seq: 1},
	},
	{
		name: "retransmitted fall",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x0A,                   // length 10
			0x01,                   // kind: event
			0x04,                   // flags: retransmit
			0x0A, 0x0B, 0x0C, 0x0E, // node 0A0B0C0E
			0x01, 0x02, // seq 258
			0x11,       // event: fall
			0x40,       // battery 64 %
			0x08, 0x51, // CRC
		},
		frame: Frame{Kind: KindEvent, Flags: FlagRetransmit, Node: 0x0A0B0C0E, Seq: 258, Event: EventFall, Battery: 64},
	},
	{
		name: "boot frame: door open",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x0A,                   // length 10
			0x01,                   // kind: event
			0x01,                   // flags: boot
			0x12, 0x34, 0x56, 0x78, // node 12345678
			0x00, 0x00, // seq 0
			0x02,       // event: door open
			0x5F,       // battery 95 %
			0x04, 0x28, // CRC
		},
		frame: Frame{Kind: KindEvent, Flags: FlagBoot, Node: 0x12345678, Seq: 0, Event: EventDoorOpen, Battery: 95},
	},
	{
		name: "low-battery check-in after wrap",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x0A,                   // length 10
			0x01,                   // kind: event
			0x02,                   // flags: low battery
			0x00, 0xC0, 0xFF, 0xEE, // node 00C0FFEE
			0x00, 0x00, // seq 0 (wrapped)
			0x20,       // event: check-in
			0x0F,       // battery 15 %
			0x0D, 0x94, // CRC
		},
		frame: Frame{Kind: KindEvent, Flags: FlagLowBattery, Node: 0x00C0FFEE, Seq: 0, Event: EventCheckIn, Battery: 15},
	},
	{
		name: "I'm OK, battery not measured",
		raw: []byte{
			0xA5, 0x5A, // sync
			0x01,                   // version 1
			0x0A,                   // length 10
			0x01,                   // kind: event
			0x00,                   // flags: none
			0x00, 0xB0, 0xB0, 0xB0, // node 00B0B0B0
			0x00, 0x07, // seq 7
			0x04,       // event: I'm OK
			0xFF,       // battery unknown
			0x9A, 0xB6, // CRC
		},
		frame: Frame{Kind: KindEvent, Node: 0x00B0B0B0, Seq: 7, Event: EventImOK, Battery: BatteryUnknown},
	},
}

func encode(f Frame) []byte {
	if f.Kind == KindAck {
		return AppendAck(nil, f.Node, f.Seq)
	}
	return AppendEvent(nil, f.Node, f.Seq, f.Event, f.Battery, f.Flags)
}

func TestEncodeDecodeRaw(t *testing.T) {
	for _, tc := range rawFrames {
		t.Run(tc.name, func(t *testing.T) {
			if got := encode(tc.frame); !bytes.Equal(got, tc.raw) {
				t.Errorf("encode = % X\nwant     % X", got, tc.raw)
			}
			// Trailing bytes belong to the next frame and must be left alone.
			in := append(append([]byte(nil), tc.raw...), 0xA5, 0x5A, 0x01)
			f, n, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n != len(tc.raw) || f != tc.frame {
				t.Errorf("Decode = %+v, %d; want %+v, %d", f, n, tc.frame, len(tc.raw))
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	dst := []byte{0xEE}
	dst = AppendAck(dst, 1, 2)
	dst = AppendEvent(dst, 3, 4, EventMotion, 50, 0)
	if dst[0] != 0xEE || len(dst) != 1+AckFrameLen+EventFrameLen {
		t.Fatalf("got % X", dst)
	}
	if _, n, err := Decode(dst[1+AckFrameLen:]); err != nil || n != EventFrameLen {
		t.Fatalf("second frame: n=%d err=%v", n, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	sos := rawFrames[0].raw
	with := func(i int, b byte) []byte {
		p := append([]byte(nil), sos...)
		p[i] = b
		return p
	}
	tests := []struct {
		name string
		raw  []byte
		err  error
		msg  string
	}{
		{"empty", nil, ErrTruncated, "sensornode: byte 0: truncated: header needs 4 bytes, have 0"},
		{"first sync byte", with(0, 0x5A), ErrSync, "sensornode: byte 0: sync 0x5A, want 0xA5"},
		{"second sync byte", with(1, 0xA5), ErrSync, "sensornode: byte 1: sync 0xA5, want 0x5A"},
		{"lone sync byte", []byte{0xA5}, ErrTruncated, "sensornode: byte 1: truncated: header needs 4 bytes, have 1"},
		{"header only", sos[:4], ErrTruncated, "sensornode: byte 4: truncated: frame needs 16 bytes, have 4"},
		{"missing CRC byte", sos[:15], ErrTruncated, "sensornode: byte 15: truncated: frame needs 16 bytes, have 15"},
		{"length 0", with(3, 0), ErrLength, "sensornode: byte 3: length 0 out of range 1..52"},
		{"length 53", with(3, 53), ErrLength, "sensornode: byte 3: length 53 out of range 1..52"},
		{"CRC low byte", with(15, 0x6E), ErrCRC, "sensornode: byte 14: CRC 0x046E, computed 0x046F"},
		{"bit error in node", with(8, 0x1C), ErrCRC, "sensornode: byte 14: CRC 0x046F, computed 0x1EEB"},
		{
			"version 2",
			[]byte{
				0xA5, 0x5A, // sync
				0x02,             // version 2
				0x03,             // length 3
				0x01, 0x02, 0x03, // a body v1 cannot interpret
				0xAF, 0x62, // valid CRC
			},
			ErrVersion, "sensornode: byte 2: unknown version 2 (this decoder speaks 1)",
		},
		{
			"unknown kind",
			[]byte{
				0xA5, 0x5A, // sync
				0x01,       // version 1
				0x01,       // length 1
				0x42,       // kind 0x42
				0xA0, 0x1B, // valid CRC
			},
			ErrKind, "sensornode: byte 4: unknown frame kind 0x42",
		},
		{
			"ack too short",
			[]byte{
				0xA5, 0x5A, // sync
				0x01,       // version 1
				0x02,       // length 2
				0x81, 0x00, // kind ack, flags
				0xB4, 0xBD, // valid CRC
			},
			ErrLength, "sensornode: byte 3: length 2 too short for ack frame (min 8)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := Decode(tc.raw)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err.Error() != tc.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tc.msg)
			}
			if f != (Frame{}) || n != 0 {
				t.Errorf("got frame %+v, n %d alongside error", f, n)
			}
		})
	}
}

func TestExtensionBytesIgnored(t *testing.T) {
	// A newer v1 node appends two bytes; the CRC covers them.
	raw := []byte{
		0xA5, 0x5A, // sync
		0x01,                   // version 1
		0x0C,                   // length 12 = 10 + 2 extension bytes
		0x01,                   // kind: event
		0x00,                   // flags
		0x0A, 0x0B, 0x0C, 0x0E, // node
		0x00, 0x05, // seq 5
		0x11,       // fall
		0x40,       // 64 %
		0x03, 0x20, // extension, unknown to v1.0
		0x4E, 0x14, // CRC
	}
	f, n, err := Decode(raw)
	if err != nil || n != len(raw) {
		t.Fatalf("Decode: n=%d err=%v", n, err)
	}
	want := Frame{Kind: KindEvent, Node: 0x0A0B0C0E, Seq: 5, Event: EventFall, Battery: 64}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
}

func TestDecodeZeroAlloc(t *testing.T) {
	raw := rawFrames[0].raw
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, err := Decode(raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per frame", allocs)
	}
	buf := make([]byte, 0, EventFrameLen)
	allocs = testing.AllocsPerRun(1000, func() {
		buf = AppendEvent(buf[:0], 1, 2, EventSOS, 3, 0)
	})
	if allocs != 0 {
		t.Fatalf("AppendEvent allocates %.1f times per frame", allocs)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Frame{Kind: KindEvent, Flags: FlagBoot | FlagRetransmit | 0x80, Node: 0xAB, Seq: 9, Event: EventFall, Battery: 55}.String(),
			"event node=000000AB seq=9 event=fall battery=55% flags=boot|retransmit|0x80"},
		{Frame{Kind: KindEvent, Event: 0x12, Battery: 200}.String(),
			"event node=00000000 seq=0 event=event(0x12) battery=unknown flags=0"},
		{Frame{Kind: KindAck, Node: 1, Seq: 2}.String(), "ack node=00000001 seq=2"},
		{Kind(7).String(), "kind(0x07)"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, e := range []Event{EventSOS, EventFall, 0x12, 0x1F} {
		if !e.Alarm() {
			t.Errorf("%v should be an alarm", e)
		}
	}
	for _, e := range []Event{EventMotion, EventDoorOpen, EventDoorClose, EventImOK, EventCheckIn, 0x20, 0x0F} {
		if e.Alarm() {
			t.Errorf("%v should not be an alarm", e)
		}
	}
}
