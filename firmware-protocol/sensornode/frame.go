// Package sensornode implements the Shouwang sensor-node radio protocol (v1):
// the compact frames that battery-powered nodes (bathroom PIR, door contact,
// bedside button, SOS pendant, fall bracelet) send to the edge over a
// transparent-serial UART radio, and the ACK frames the edge sends back.
//
// The normative specification, including test vectors, is
// firmware-protocol/docs/sensornode.md; the vectors are also stored in
// testdata/vectors.json and checked by this package's tests.
//
// Wire format (all multi-byte fields big-endian):
//
//	A5 5A | ver | len | body (len bytes) | CRC-16 hi lo
//
// The CRC is CRC-16/IBM-3740 (also known as CRC-16/CCITT-FALSE) over
// ver, len and body. The package is strict about framing (sync, version,
// length, CRC, kind) and lenient about content: an unknown event code,
// a reserved flag bit or an out-of-range battery value never causes a frame
// to be rejected, because a rejected SOS is worse than a strange one.
package sensornode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Wire constants. They are part of the protocol, not tunables.
const (
	Sync0 byte = 0xA5 // first sync byte
	Sync1 byte = 0x5A // second sync byte

	// Version is the protocol version this package speaks.
	Version byte = 1

	// MaxBodyLen bounds the length field in every protocol version, so that
	// a corrupted length byte can hold the decoder up for at most a few
	// dozen bytes, and a whole frame fits in one 58-byte radio packet of the
	// common transparent LoRa modules.
	MaxBodyLen = 52

	// MaxFrameLen is the longest frame any version may send.
	MaxFrameLen = headerLen + MaxBodyLen + crcLen

	// EventFrameLen and AckFrameLen are the sizes of v1 frames as the
	// encoders produce them (no extension bytes).
	EventFrameLen = headerLen + eventBodyLen + crcLen // 16
	AckFrameLen   = headerLen + ackBodyLen + crcLen   // 14
)

const (
	headerLen    = 4 // sync0 sync1 ver len
	crcLen       = 2
	eventBodyLen = 10 // kind flags node(4) seq(2) event battery
	ackBodyLen   = 8  // kind flags node(4) seq(2)

	offVer   = 2
	offLen   = 3
	offKind  = 4
	offFlags = 5
	offNode  = 6
	offSeq   = 10
	offEvent = 12
	offBatt  = 13
)

// Kind says which layout the body has.
type Kind uint8

const (
	KindEvent Kind = 0x01 // node -> edge
	KindAck   Kind = 0x81 // edge -> node; high bit marks the downlink direction
)

func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindAck:
		return "ack"
	}
	return fmt.Sprintf("kind(0x%02X)", uint8(k))
}

// bodyLen is the minimum body length of a v1 kind, 0 for unknown kinds.
func (k Kind) bodyLen() int {
	switch k {
	case KindEvent:
		return eventBodyLen
	case KindAck:
		return ackBodyLen
	}
	return 0
}

// Event is what happened at the node. Codes are grouped by class in the
// high nibble so that an edge can treat a code it does not know yet
// according to its class; in particular any 0x1X code is an alarm.
type Event uint8

const (
	EventMotion    Event = 0x01 // PIR saw movement
	EventDoorOpen  Event = 0x02 // contact opened
	EventDoorClose Event = 0x03 // contact closed
	EventImOK      Event = 0x04 // person pressed "I'm OK" (answers a wellness prompt)
	EventSOS       Event = 0x10 // person pressed the SOS button
	EventFall      Event = 0x11 // wearable detected a fall
	EventCheckIn   Event = 0x20 // periodic supervision, no user action
)

// Alarm reports whether e belongs to the alarm class (0x10..0x1F): nodes
// retransmit these until ACKed and the edge escalates them at once, even
// codes added after this edge was built.
func (e Event) Alarm() bool { return e&0xF0 == 0x10 }

func (e Event) String() string {
	switch e {
	case EventMotion:
		return "motion"
	case EventDoorOpen:
		return "door-open"
	case EventDoorClose:
		return "door-close"
	case EventImOK:
		return "im-ok"
	case EventSOS:
		return "sos"
	case EventFall:
		return "fall"
	case EventCheckIn:
		return "check-in"
	}
	return fmt.Sprintf("event(0x%02X)", uint8(e))
}

// Flags are per-frame bits in event frames. Bits 3..7 are reserved: nodes
// send 0 and receivers ignore them, so v1 may give them meaning later.
type Flags uint8

const (
	// FlagBoot marks frames sent since power-on until the node's first ACK,
	// so the edge can tell a restarted sequence from a replay.
	FlagBoot Flags = 1 << 0
	// FlagLowBattery is the node's own low-battery verdict; only the node
	// knows its chemistry's discharge curve.
	FlagLowBattery Flags = 1 << 1
	// FlagRetransmit marks a repeat of an un-ACKed frame (same seq).
	FlagRetransmit Flags = 1 << 2
)

func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagBoot, "boot"}, {FlagLowBattery, "low-battery"}, {FlagRetransmit, "retransmit"}} {
		if f&x.f != 0 {
			parts = append(parts, x.n)
			f &^= x.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("0x%02X", uint8(f)))
	}
	return strings.Join(parts, "|")
}

// NodeID is the 32-bit identity printed on the node's label.
type NodeID uint32

func (n NodeID) String() string { return fmt.Sprintf("%08X", uint32(n)) }

// BatteryUnknown is sent by nodes that cannot measure their battery (or are
// mains-powered). Values 101..254 are reserved and mean the same.
const BatteryUnknown uint8 = 0xFF

// Frame is one decoded v1 frame. For ACK frames Event and Battery are zero.
type Frame struct {
	Kind    Kind
	Flags   Flags
	Node    NodeID
	Seq     uint16
	Event   Event
	Battery uint8 // percent 0..100; anything else means unknown
}

// BatteryKnown reports whether Battery carries a percentage.
func (f Frame) BatteryKnown() bool { return f.Battery <= 100 }

func (f Frame) String() string {
	if f.Kind == KindAck {
		return fmt.Sprintf("ack node=%s seq=%d", f.Node, f.Seq)
	}
	b := "unknown"
	if f.BatteryKnown() {
		b = fmt.Sprintf("%d%%", f.Battery)
	}
	return fmt.Sprintf("%s node=%s seq=%d event=%s battery=%s flags=%s",
		f.Kind, f.Node, f.Seq, f.Event, b, f.Flags)
}

// AppendEvent appends an event frame to dst. It encodes whatever it is
// given (test benches need odd frames); nodes should send battery 0..100 or
// BatteryUnknown.
func AppendEvent(dst []byte, node NodeID, seq uint16, ev Event, battery uint8, flags Flags) []byte {
	start := len(dst)
	dst = append(dst, Sync0, Sync1, Version, eventBodyLen, byte(KindEvent), byte(flags))
	dst = binary.BigEndian.AppendUint32(dst, uint32(node))
	dst = binary.BigEndian.AppendUint16(dst, seq)
	dst = append(dst, byte(ev), battery)
	return binary.BigEndian.AppendUint16(dst, Checksum(dst[start+offVer:]))
}

// AppendAck appends the edge's acknowledgement of (node, seq) to dst.
func AppendAck(dst []byte, node NodeID, seq uint16) []byte {
	start := len(dst)
	dst = append(dst, Sync0, Sync1, Version, ackBodyLen, byte(KindAck), 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(node))
	dst = binary.BigEndian.AppendUint16(dst, seq)
	return binary.BigEndian.AppendUint16(dst, Checksum(dst[start+offVer:]))
}

// Sentinel errors, matched with errors.Is; the concrete error is always a
// *FrameError saying where and what.
var (
	ErrSync      = errors.New("sensornode: bad sync")
	ErrTruncated = errors.New("sensornode: truncated frame")
	ErrLength    = errors.New("sensornode: bad length")
	ErrCRC       = errors.New("sensornode: CRC mismatch")
	ErrVersion   = errors.New("sensornode: unknown version")
	ErrKind      = errors.New("sensornode: unknown frame kind")
)

// FrameError locates a decoding failure.
type FrameError struct {
	// Offset of the offending byte: from the start of the slice for Decode,
	// from the start of the stream for Decoder.
	Offset int64
	Err    error // one of the Err* sentinels
	detail string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("sensornode: byte %d: %s", e.Offset, e.detail)
}

func (e *FrameError) Unwrap() error { return e.Err }

func frameErr(off int, sentinel error, format string, args ...any) *FrameError {
	return &FrameError{Offset: int64(off), Err: sentinel, detail: fmt.Sprintf(format, args...)}
}

// Decode decodes the frame at the start of p and reports how many bytes it
// occupied; bytes after it are ignored. Extension bytes a newer v1 node
// appends to the body are CRC-checked and skipped. It does not allocate
// unless it fails.
func Decode(p []byte) (Frame, int, error) {
	n, err := check(p)
	if err != nil {
		return Frame{}, 0, err
	}
	f := Frame{
		Kind:  Kind(p[offKind]),
		Flags: Flags(p[offFlags]),
		Node:  NodeID(binary.BigEndian.Uint32(p[offNode:])),
		Seq:   binary.BigEndian.Uint16(p[offSeq:]),
	}
	if f.Kind == KindEvent {
		f.Event = Event(p[offEvent])
		f.Battery = p[offBatt]
	}
	return f, n, nil
}

// check validates the frame at the start of p and returns its length.
// Framing is checked before meaning: a frame whose CRC fails says nothing
// trustworthy about its version or kind.
func check(p []byte) (int, error) {
	if len(p) > 0 && p[0] != Sync0 {
		return 0, frameErr(0, ErrSync, "sync 0x%02X, want 0x%02X", p[0], Sync0)
	}
	if len(p) > 1 && p[1] != Sync1 {
		return 0, frameErr(1, ErrSync, "sync 0x%02X, want 0x%02X", p[1], Sync1)
	}
	if len(p) < headerLen {
		return 0, frameErr(len(p), ErrTruncated, "truncated: header needs %d bytes, have %d", headerLen, len(p))
	}
	bodyLen := int(p[offLen])
	if bodyLen < 1 || bodyLen > MaxBodyLen {
		return 0, frameErr(offLen, ErrLength, "length %d out of range 1..%d", bodyLen, MaxBodyLen)
	}
	n := headerLen + bodyLen + crcLen
	if len(p) < n {
		return 0, frameErr(len(p), ErrTruncated, "truncated: frame needs %d bytes, have %d", n, len(p))
	}
	want := binary.BigEndian.Uint16(p[n-crcLen:])
	if got := Checksum(p[offVer : n-crcLen]); got != want {
		return 0, frameErr(n-crcLen, ErrCRC, "CRC 0x%04X, computed 0x%04X", want, got)
	}
	if p[offVer] != Version {
		return 0, frameErr(offVer, ErrVersion, "unknown version %d (this decoder speaks %d)", p[offVer], Version)
	}
	k := Kind(p[offKind])
	min := k.bodyLen()
	if min == 0 {
		return 0, frameErr(offKind, ErrKind, "unknown frame kind 0x%02X", p[offKind])
	}
	if bodyLen < min {
		return 0, frameErr(offLen, ErrLength, "length %d too short for %s frame (min %d)", bodyLen, k, min)
	}
	return n, nil
}

// plausible reports whether the 5-byte header prefix at h could start a
// frame worth waiting for. It lets the stream decoder drop most false syncs
// in noise without buffering a whole bogus length's worth of bytes.
func plausible(h []byte) bool {
	ver, l := h[offVer], int(h[offLen])
	if ver == 0x00 || ver == 0xFF || l < 1 || l > MaxBodyLen {
		return false // idle-line noise is mostly 00/FF; no version will ever use them
	}
	if ver == Version {
		// Unknown v1 kinds are skipped silently rather than reported, so a
		// kind added later does not look like line noise to older edges.
		min := Kind(h[offKind]).bodyLen()
		return min != 0 && l >= min
	}
	return true
}

// CRC-16/IBM-3740 (alias CRC-16/CCITT-FALSE): width 16, poly 0x1021,
// init 0xFFFF, refin false, refout false, xorout 0x0000, check 0x29B1.
// Chosen because it is MSB-first like the rest of the frame, has a hardware
// unit or ROM routine on most node MCUs, and its non-zero init catches
// leading zero bytes from a waking radio.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// Checksum returns the CRC-16/IBM-3740 of p (check value for "123456789" is
// 0x29B1). Frames carry it big-endian after the body.
func Checksum(p []byte) uint16 {
	c := uint16(0xFFFF)
	for _, b := range p {
		c = c<<8 ^ crcTable[byte(c>>8)^b]
	}
	return c
}
