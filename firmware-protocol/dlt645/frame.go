// Package dlt645 decodes and encodes DL/T 645-2007 frames, the protocol spoken by
// Chinese multi-function electricity meters on RS-485 (2400 baud 8E1 by default).
//
// The layer split is deliberate: Decode checks framing (start bytes, length,
// checksum, end byte) into a caller-owned Frame without allocating, and
// ParseReading turns the payload of a reply into values in the standard's units.
// See firmware-protocol/docs/dlt645.md for the wire format.
package dlt645

import (
	"errors"
	"fmt"
)

const (
	// WakeUp is the preamble byte masters send (typically 4 times) to wake the
	// meter's UART; meters often echo a few before their reply.
	WakeUp = 0xFE
	start  = 0x68
	end    = 0x16
	// offset is added to every data byte on the wire so that a payload of zeros
	// does not look like a long run of identical bytes on the bus.
	offset = 0x33

	headerLen = 10 // 68 A0..A5 68 C L
	// MinFrameLen is the length of a frame with no data.
	MinFrameLen = headerLen + 2
	// MaxDataLen is the largest data field the one-byte length can describe.
	MaxDataLen = 255
	// MaxFrameLen is the longest possible frame, wake-up bytes excluded.
	MaxFrameLen = MinFrameLen + MaxDataLen
)

// Control codes (the C byte). Bit 7 is the direction (1 = from meter), bit 6
// flags an abnormal reply and bit 5 says that follow-up frames exist.
const (
	CtrlBroadcastTime   = 0x08
	CtrlRead            = 0x11
	CtrlReadFollow      = 0x12
	CtrlReadAddress     = 0x13
	CtrlReadReply       = 0x91
	CtrlReadFollowReply = 0x92
	CtrlReadAddrReply   = 0x93
	CtrlReadError       = 0xD1
	CtrlReadFollowError = 0xD2

	CtrlDirReply = 0x80
	CtrlAbnormal = 0x40
	CtrlMore     = 0x20
	CtrlFuncMask = 0x1F
)

// Address is a meter address in wire order: Address[0] holds the two least
// significant nameplate digits. Keeping wire order makes decoding a plain copy.
type Address [6]byte

var (
	// Wildcard is accepted by any meter; used with CtrlReadAddress on a bus with
	// exactly one meter.
	Wildcard = Address{0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}
	// Broadcast is used for broadcast commands such as time sync; meters do not reply.
	Broadcast = Address{0x99, 0x99, 0x99, 0x99, 0x99, 0x99}
)

// String returns the 12 nameplate digits, most significant first. Wildcard
// nibbles (A) print as "A".
func (a Address) String() string {
	var b [12]byte
	a.appendDigits(b[:0])
	return string(b[:])
}

func (a Address) appendDigits(dst []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := len(a) - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[a[i]>>4], hexDigits[a[i]&0x0F])
	}
	return dst
}

// ParseAddress parses nameplate digits (most significant first). Shorter
// inputs are left-padded with zeros, as meter labels often drop leading zeros.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) > 12 || len(s) == 0 {
		return a, fmt.Errorf("dlt645: address %q: want 1 to 12 digits", s)
	}
	var digits [12]byte
	for i := range digits {
		digits[i] = '0'
	}
	copy(digits[12-len(s):], s)
	for i := 0; i < 12; i++ {
		c := digits[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c == 'A' || c == 'a':
			v = 0xA
		default:
			return Address{}, fmt.Errorf("dlt645: address %q: invalid digit %q", s, c)
		}
		// digit i (from the left) lands in byte 5-i/2; even i is the high nibble.
		if i%2 == 0 {
			a[5-i/2] |= v << 4
		} else {
			a[5-i/2] |= v
		}
	}
	return a, nil
}

// Frame is one decoded frame. It owns a copy of the data field with the 0x33
// offset removed, so it stays valid after the input buffer is reused.
type Frame struct {
	Address Address
	Control byte
	n       uint8
	data    [MaxDataLen]byte
}

// Data returns the data field with the 0x33 offset removed.
func (f *Frame) Data() []byte { return f.data[:f.n] }

// IsReply reports whether the frame comes from a meter.
func (f *Frame) IsReply() bool { return f.Control&CtrlDirReply != 0 }

// IsAbnormal reports whether the frame is an abnormal (error) reply.
func (f *Frame) IsAbnormal() bool {
	return f.Control&(CtrlDirReply|CtrlAbnormal) == CtrlDirReply|CtrlAbnormal
}

// HasMore reports whether the meter announced follow-up frames (bit 5).
func (f *Frame) HasMore() bool { return f.Control&CtrlMore != 0 }

// Function returns the control code without the direction/abnormal/more bits.
func (f *Frame) Function() byte { return f.Control & CtrlFuncMask }

// Sentinel errors; FrameError matches them with errors.Is.
var (
	// ErrTruncated: the input ends before the frame does. In a stream, read more.
	ErrTruncated = errors.New("truncated frame")
	// ErrChecksum: the checksum byte does not match the sum of the frame.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrSyntax: a start/end delimiter or other fixed byte is wrong.
	ErrSyntax = errors.New("malformed frame")
	// ErrNoFrame: no start byte at all (only wake-up bytes or nothing).
	ErrNoFrame = errors.New("no frame")
)

// FrameError says which byte of the input was wrong and what was expected.
// Offset counts from the start of the slice given to Decode, wake-up bytes included.
type FrameError struct {
	Offset int
	Kind   error // one of the sentinel errors
	Msg    string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("dlt645: byte %d: %s", e.Offset, e.Msg)
}

// Is lets errors.Is(err, ErrChecksum) and friends work.
func (e *FrameError) Is(target error) bool { return target == e.Kind }

// problem is the allocation-free form of FrameError used while resynchronising,
// where most candidate frames are rejected and building messages would be waste.
type problem struct {
	kind     error
	off      int
	got, exp int
	what     uint8
}

const (
	whatNone = iota
	whatNoFrame
	whatTruncated
	whatStart2
	whatChecksum
	whatEnd
)

func (p problem) err() error {
	var msg string
	switch p.what {
	case whatNoFrame:
		msg = fmt.Sprintf("no start byte 0x68 found (%d bytes)", p.got)
	case whatTruncated:
		msg = fmt.Sprintf("frame truncated: %d-byte frame, %d bytes present", p.exp, p.got)
	case whatStart2:
		msg = fmt.Sprintf("second start byte 0x%02X, expected 0x68", p.got)
	case whatChecksum:
		msg = fmt.Sprintf("checksum 0x%02X, computed 0x%02X", p.got, p.exp)
	case whatEnd:
		msg = fmt.Sprintf("end byte 0x%02X, expected 0x16", p.got)
	}
	return &FrameError{Offset: p.off, Kind: p.kind, Msg: msg}
}

// Decode decodes the frame at the start of buf, skipping leading wake-up bytes,
// into f. It returns the number of bytes consumed (wake-up bytes included).
// Bytes after the frame are ignored; use Split or Scanner for streams.
func Decode(buf []byte, f *Frame) (int, error) {
	n, p := decode(buf, f)
	if p.what != whatNone {
		return 0, p.err()
	}
	return n, nil
}

func decode(buf []byte, f *Frame) (int, problem) {
	i := 0
	for i < len(buf) && buf[i] == WakeUp {
		i++
	}
	if i == len(buf) {
		return 0, problem{kind: ErrNoFrame, what: whatNoFrame, off: i, got: len(buf)}
	}
	if buf[i] != start {
		return 0, problem{kind: ErrSyntax, what: whatNoFrame, off: i, got: len(buf)}
	}
	s := i
	if len(buf)-s < headerLen {
		return 0, problem{kind: ErrTruncated, what: whatTruncated, off: len(buf), exp: MinFrameLen, got: len(buf) - s}
	}
	if buf[s+7] != start {
		return 0, problem{kind: ErrSyntax, what: whatStart2, off: s + 7, got: int(buf[s+7])}
	}
	l := int(buf[s+9])
	total := s + MinFrameLen + l
	if len(buf) < total {
		return 0, problem{kind: ErrTruncated, what: whatTruncated, off: len(buf), exp: total - s, got: len(buf) - s}
	}
	var sum byte
	for _, b := range buf[s : s+headerLen+l] {
		sum += b
	}
	csAt := s + headerLen + l
	if buf[csAt] != sum {
		return 0, problem{kind: ErrChecksum, what: whatChecksum, off: csAt, got: int(buf[csAt]), exp: int(sum)}
	}
	if buf[csAt+1] != end {
		return 0, problem{kind: ErrSyntax, what: whatEnd, off: csAt + 1, got: int(buf[csAt+1])}
	}
	copy(f.Address[:], buf[s+1:s+7])
	f.Control = buf[s+8]
	f.n = uint8(l)
	for k, b := range buf[s+headerLen : csAt] {
		f.data[k] = b - offset
	}
	return total, problem{}
}
