// Package cjt188 decodes and encodes CJ/T 188-2004 frames, the protocol of
// Chinese water, heat and gas meters on M-Bus (2400 baud 8E1).
//
// As in package dlt645, Decode validates framing into a caller-owned Frame
// without allocating and ParseReading interprets the data field. See
// firmware-protocol/docs/cjt188.md for the wire format and vendor quirks.
package cjt188

import (
	"errors"
	"fmt"
)

const (
	// WakeUp is the preamble byte sent before frames to wake battery meters.
	WakeUp = 0xFE
	start  = 0x68
	end    = 0x16

	headerLen = 11 // 68 T A0..A6 C L
	// MinFrameLen is the length of a frame with an empty data field.
	MinFrameLen = headerLen + 2
	// MaxDataLen is the largest data field the one-byte length can describe.
	MaxDataLen = 255
	// MaxFrameLen is the longest possible frame, wake-up bytes excluded.
	MaxFrameLen = MinFrameLen + MaxDataLen
)

// Control codes. Bit 7 is the direction (1 = from meter), bit 6 marks an
// abnormal reply; the low 6 bits are the function.
const (
	CtrlRead             = 0x01
	CtrlReadAddress      = 0x03
	CtrlReadReply        = 0x81
	CtrlReadAddressReply = 0x83
	CtrlReadError        = 0xC1
	CtrlReadAddressError = 0xC3

	CtrlDirReply = 0x80
	CtrlAbnormal = 0x40
	CtrlFuncMask = 0x3F
)

// MeterType is the T byte.
type MeterType uint8

// Meter types from CJ/T 188-2004 table 1.
const (
	TypeColdWater     MeterType = 0x10 // 冷水水表
	TypeHotWater      MeterType = 0x11 // 生活热水水表
	TypeDrinkingWater MeterType = 0x12 // 直饮水水表
	TypeReclaimed     MeterType = 0x13 // 中水水表
	TypeHeatCold      MeterType = 0x20 // 热量表 (计冷量)
	TypeHeatHot       MeterType = 0x21 // 热量表 (计热量)
	TypeGas           MeterType = 0x30 // 燃气表
	TypeElectricity   MeterType = 0x40 // 电度表 (custom)
	TypeWildcard      MeterType = 0xAA // any type; used when the type is unknown
)

func (t MeterType) String() string {
	switch t {
	case TypeColdWater:
		return "cold water"
	case TypeHotWater:
		return "hot water"
	case TypeDrinkingWater:
		return "drinking water"
	case TypeReclaimed:
		return "reclaimed water"
	case TypeHeatCold:
		return "heat (cooling)"
	case TypeHeatHot:
		return "heat (heating)"
	case TypeGas:
		return "gas"
	case TypeElectricity:
		return "electricity"
	case TypeWildcard:
		return "any"
	}
	return fmt.Sprintf("type 0x%02X", uint8(t))
}

// Address is the 7-byte meter address in wire order: Address[0] holds the two
// least significant nameplate digits.
type Address [7]byte

// Wildcard is accepted by any meter (read-address requests on a one-meter bus).
var Wildcard = Address{0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}

// String returns the 14 nameplate digits, most significant first.
func (a Address) String() string {
	var b [14]byte
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < 7; i++ {
		x := a[6-i]
		b[2*i], b[2*i+1] = hexDigits[x>>4], hexDigits[x&0x0F]
	}
	return string(b[:])
}

// ParseAddress parses nameplate digits (most significant first), left-padding
// with zeros.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) == 0 || len(s) > 14 {
		return a, fmt.Errorf("cjt188: address %q: want 1 to 14 digits", s)
	}
	var digits [14]byte
	for i := range digits {
		digits[i] = '0'
	}
	copy(digits[14-len(s):], s)
	for i, c := range digits {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c == 'A' || c == 'a':
			v = 0xA
		default:
			return Address{}, fmt.Errorf("cjt188: address %q: invalid digit %q", s, c)
		}
		if i%2 == 0 {
			a[6-i/2] |= v << 4
		} else {
			a[6-i/2] |= v
		}
	}
	return a, nil
}

// Frame is one decoded frame; it owns a copy of the data field.
type Frame struct {
	Type    MeterType
	Address Address
	Control byte
	n       uint8
	data    [MaxDataLen]byte
}

// Data returns the data field (DI, SER and payload as sent).
func (f *Frame) Data() []byte { return f.data[:f.n] }

// IsReply reports whether the frame comes from a meter.
func (f *Frame) IsReply() bool { return f.Control&CtrlDirReply != 0 }

// IsAbnormal reports whether the frame is an error reply.
func (f *Frame) IsAbnormal() bool {
	return f.Control&(CtrlDirReply|CtrlAbnormal) == CtrlDirReply|CtrlAbnormal
}

// Function returns the control code without direction and abnormal bits.
func (f *Frame) Function() byte { return f.Control & CtrlFuncMask }

// Sentinel errors matched by FrameError via errors.Is.
var (
	ErrTruncated = errors.New("truncated frame")
	ErrChecksum  = errors.New("checksum mismatch")
	ErrSyntax    = errors.New("malformed frame")
	ErrNoFrame   = errors.New("no frame")
)

// FrameError says which byte of the input was wrong and what was expected.
// Offset counts from the start of the slice given to Decode.
type FrameError struct {
	Offset int
	Kind   error
	Msg    string
}

func (e *FrameError) Error() string { return fmt.Sprintf("cjt188: byte %d: %s", e.Offset, e.Msg) }

// Is lets errors.Is(err, ErrChecksum) and friends work.
func (e *FrameError) Is(target error) bool { return target == e.Kind }

// problem is FrameError without the allocation, for resynchronisation loops.
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
	case whatChecksum:
		msg = fmt.Sprintf("checksum 0x%02X, computed 0x%02X", p.got, p.exp)
	case whatEnd:
		msg = fmt.Sprintf("end byte 0x%02X, expected 0x16", p.got)
	}
	return &FrameError{Offset: p.off, Kind: p.kind, Msg: msg}
}

// Decode decodes the frame at the start of buf (after optional wake-up bytes)
// into f and returns the number of bytes consumed.
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
	l := int(buf[s+10])
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
	f.Type = MeterType(buf[s+1])
	copy(f.Address[:], buf[s+2:s+9])
	f.Control = buf[s+9]
	f.n = uint8(l)
	copy(f.data[:], buf[s+headerLen:csAt])
	return total, problem{}
}
