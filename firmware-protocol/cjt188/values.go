package cjt188

import (
	"fmt"
	"strconv"
	"time"
)

// DI is a data identifier written as in the standard's tables ("901F").
type DI uint16

// Data identifiers the decoder interprets.
const (
	DIMeterData DI = 0x901F // 计量数据: flows, clock, status
	DIAddress   DI = 0x810A // 读地址
)

// knownDI lists DIs for which byte order can be inferred; a DI outside this set
// is reported as transmitted (first byte high) since nothing tells us better.
func knownDI(d DI) bool {
	switch {
	case d == DIMeterData, d == DIAddress:
		return true
	case d >= 0xD120 && d <= 0xD12B: // history records 1-12
		return true
	case d >= 0x8102 && d <= 0x8106: // price table, settlement day, reading day, purchase, key version
		return true
	}
	return false
}

func (d DI) String() string {
	const hexDigits = "0123456789ABCDEF"
	b := [4]byte{hexDigits[d>>12], hexDigits[(d>>8)&0xF], hexDigits[(d>>4)&0xF], hexDigits[d&0xF]}
	return string(b[:])
}

// ParseDI parses 4 hex digits as written in the standard's tables.
func ParseDI(s string) (DI, error) {
	if len(s) != 4 {
		return 0, fmt.Errorf("cjt188: DI %q: want 4 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("cjt188: DI %q: %w", s, err)
	}
	return DI(v), nil
}

// DIOrder is how a meter puts the two DI bytes on the wire. The standard's
// examples send "90 1F" but many vendors send "1F 90", so it is a per-meter
// setting for encoding; decoding accepts both for known DIs.
type DIOrder uint8

const (
	DIHighFirst DIOrder = iota // 90 1F
	DILowFirst                 // 1F 90
)

func (o DIOrder) String() string {
	if o == DILowFirst {
		return "low-first"
	}
	return "high-first"
}

func (o DIOrder) appendDI(dst []byte, d DI) []byte {
	if o == DILowFirst {
		return append(dst, byte(d), byte(d>>8))
	}
	return append(dst, byte(d>>8), byte(d))
}

func diFromWire(b0, b1 byte) (DI, DIOrder) {
	hi := DI(b0)<<8 | DI(b1)
	if knownDI(hi) {
		return hi, DIHighFirst
	}
	if lo := DI(b1)<<8 | DI(b0); knownDI(lo) {
		return lo, DILowFirst
	}
	return hi, DIHighFirst
}

// Unit is a unit code from CJ/T 188-2004 table 5.
type Unit uint8

const (
	UnitJ      Unit = 0x01
	UnitWh     Unit = 0x02
	UnitKWh    Unit = 0x05
	UnitMWh    Unit = 0x08
	UnitMWh100 Unit = 0x0A
	UnitKJ     Unit = 0x0B
	UnitMJ     Unit = 0x0E
	UnitGJ     Unit = 0x11
	UnitGJ100  Unit = 0x13
	UnitW      Unit = 0x14
	UnitKW     Unit = 0x17
	UnitMW     Unit = 0x1A
	UnitLitre  Unit = 0x29
	UnitM3     Unit = 0x2C
	UnitLPerH  Unit = 0x32
	UnitM3PerH Unit = 0x35
)

func (u Unit) String() string {
	switch u {
	case UnitJ:
		return "J"
	case UnitWh:
		return "Wh"
	case UnitKWh:
		return "kWh"
	case UnitMWh:
		return "MWh"
	case UnitMWh100:
		return "100MWh"
	case UnitKJ:
		return "kJ"
	case UnitMJ:
		return "MJ"
	case UnitGJ:
		return "GJ"
	case UnitGJ100:
		return "100GJ"
	case UnitW:
		return "W"
	case UnitKW:
		return "kW"
	case UnitMW:
		return "MW"
	case UnitLitre:
		return "L"
	case UnitM3:
		return "m³"
	case UnitLPerH:
		return "L/h"
	case UnitM3PerH:
		return "m³/h"
	}
	return fmt.Sprintf("unit 0x%02X", uint8(u))
}

// Value is a fixed-point decimal Int / 10^Decimals; OK is false when the meter
// sent 0xFF bytes ("not supported").
type Value struct {
	Int      int64
	Decimals uint8
	OK       bool
}

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4}

// Float64 returns the value as a float64 (0 if !OK).
func (v Value) Float64() float64 {
	if !v.OK {
		return 0
	}
	return float64(v.Int) / pow10[v.Decimals]
}

// AppendText appends the exact decimal form, or "null" if absent.
func (v Value) AppendText(dst []byte) []byte {
	if !v.OK {
		return append(dst, "null"...)
	}
	n := v.Int
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	s := strconv.AppendInt(nil, n, 10)
	d := int(v.Decimals)
	for len(s) <= d {
		s = append([]byte{'0'}, s...)
	}
	dst = append(dst, s[:len(s)-d]...)
	if d > 0 {
		dst = append(append(dst, '.'), s[len(s)-d:]...)
	}
	return dst
}

func (v Value) String() string { return string(v.AppendText(nil)) }

// Clock is the meter's real-time clock (local time, no zone).
// OK is false when the meter sent 0xFF bytes or an impossible date (some meters
// send zeros); Raw keeps the bytes as sent so such quirks stay visible.
type Clock struct {
	Year                 int
	Month, Day           uint8
	Hour, Minute, Second uint8
	OK                   bool
	Raw                  [7]byte
}

// Time returns the clock as a time.Time in loc (UTC if loc is nil). Meters
// keep local time and send no zone, so only the caller knows loc.
func (c Clock) Time(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(c.Year, time.Month(c.Month), int(c.Day), int(c.Hour), int(c.Minute), int(c.Second), 0, loc)
}

// ValveState is bits 0-1 of ST1.
type ValveState uint8

const (
	ValveOpen     ValveState = 0 // 00 开
	ValveClosed   ValveState = 1 // 01 关
	ValveReserved ValveState = 2 // 10 not defined by the standard
	ValveAbnormal ValveState = 3 // 11 异常
)

func (v ValveState) String() string {
	switch v {
	case ValveOpen:
		return "open"
	case ValveClosed:
		return "closed"
	case ValveAbnormal:
		return "abnormal"
	}
	return "reserved"
}

// Status is the two status bytes ST1 ST2 (ST2 is vendor-defined).
type Status struct {
	ST1, ST2 byte
	OK       bool
}

// Valve returns the valve state from ST1 bits 0-1.
func (s Status) Valve() ValveState { return ValveState(s.ST1 & 0x03) }

// BatteryLow reports ST1 bit 2 (电池欠压).
func (s Status) BatteryLow() bool { return s.ST1&0x04 != 0 }

// Kind says which fields of a Reading are meaningful.
type Kind uint8

const (
	KindNone      Kind = iota // request frame: only DI/SER
	KindMeterData             // reply to 901F
	KindAddress               // reply to 810A (the address is the frame's)
	KindError                 // abnormal reply: Status
	KindRaw                   // reply with a DI we do not interpret
)

// Reading is the interpreted data field of a frame.
type Reading struct {
	Kind    Kind
	DI      DI
	DIOrder DIOrder
	HasDI   bool
	SER     uint8

	CurrentFlow    Value
	CurrentUnit    Unit
	SettlementFlow Value
	SettlementUnit Unit
	Clock          Clock
	Status         Status
	// Payload is the data after DI and SER, aliasing the Frame.
	Payload []byte
}

// ParseError reports a data field that does not fit its DI's format.
type ParseError struct {
	DI     DI
	Offset int // offset within the data field
	Msg    string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("cjt188: DI %s: data byte %d: %s", e.DI, e.Offset, e.Msg)
}

// meterDataLen is the 901F reply after DI and SER: 5+5+7+2.
const meterDataLen = 19

// ParseReading interprets f's data field into r.
func ParseReading(f *Frame, r *Reading) error {
	*r = Reading{}
	d := f.Data()
	if f.IsAbnormal() {
		// Standard layout is SER ST1 ST2; some vendors keep the DI in front.
		switch len(d) {
		case 3:
			r.SER = d[0]
			r.Status = Status{ST1: d[1], ST2: d[2], OK: true}
		case 5:
			r.DI, r.DIOrder = diFromWire(d[0], d[1])
			r.HasDI = true
			r.SER = d[2]
			r.Status = Status{ST1: d[3], ST2: d[4], OK: true}
		default:
			return &ParseError{Offset: 0, Msg: fmt.Sprintf("abnormal reply has %d data bytes, expected 3 (SER ST1 ST2)", len(d))}
		}
		r.Kind = KindError
		return nil
	}
	if len(d) < 3 {
		return &ParseError{Offset: len(d), Msg: fmt.Sprintf("%d data bytes, expected at least 3 (DI SER)", len(d))}
	}
	r.DI, r.DIOrder = diFromWire(d[0], d[1])
	r.HasDI = true
	r.SER = d[2]
	r.Payload = d[3:]
	if !f.IsReply() {
		return nil
	}
	switch {
	case r.DI == DIMeterData && f.Function() == CtrlRead:
		return parseMeterData(r)
	case r.DI == DIAddress && f.Function() == CtrlReadAddress:
		r.Kind = KindAddress
		return nil
	}
	r.Kind = KindRaw
	return nil
}

func parseMeterData(r *Reading) error {
	p := r.Payload
	// Some meters append vendor bytes; the standard fields come first.
	if len(p) < meterDataLen {
		return &ParseError{DI: r.DI, Offset: 3 + len(p), Msg: fmt.Sprintf("%d bytes after SER, expected %d", len(p), meterDataLen)}
	}
	r.Kind = KindMeterData
	var err error
	if r.CurrentFlow, err = flow(r.DI, p[0:4], 3); err != nil {
		return err
	}
	r.CurrentUnit = Unit(p[4])
	if r.SettlementFlow, err = flow(r.DI, p[5:9], 8); err != nil {
		return err
	}
	r.SettlementUnit = Unit(p[9])
	r.Clock = parseClock(p[10:17])
	if st := p[17:19]; !(st[0] == 0xFF && st[1] == 0xFF) {
		r.Status = Status{ST1: st[0], ST2: st[1], OK: true}
	}
	return nil
}

// flow decodes 4 BCD bytes, low byte first, 2 decimals (XXXXXX.XX).
func flow(di DI, b []byte, off int) (Value, error) {
	if b[0] == 0xFF && b[1] == 0xFF && b[2] == 0xFF && b[3] == 0xFF {
		return Value{Decimals: 2}, nil
	}
	var n int64
	for i := 3; i >= 0; i-- {
		d, ok := bcd(b[i])
		if !ok {
			return Value{}, &ParseError{DI: di, Offset: off + i, Msg: fmt.Sprintf("invalid BCD 0x%02X", b[i])}
		}
		n = n*100 + int64(d)
	}
	return Value{Int: n, Decimals: 2, OK: true}, nil
}

// parseClock decodes ss mm hh DD MM YY CC (low byte first, BCD), the order in
// CJ/T 188-2004 table 4 and in every meter capture we found.
func parseClock(b []byte) Clock {
	var c Clock
	copy(c.Raw[:], b)
	var v [7]uint8
	for i, x := range b {
		d, ok := bcd(x)
		if !ok {
			return c // 0xFF fill or garbage: absent
		}
		v[i] = d
	}
	c.Second, c.Minute, c.Hour, c.Day, c.Month = v[0], v[1], v[2], v[3], v[4]
	c.Year = int(v[6])*100 + int(v[5])
	if c.Month < 1 || c.Month > 12 || c.Day < 1 || c.Day > daysIn(c.Month, c.Year) ||
		c.Hour > 23 || c.Minute > 59 || c.Second > 59 {
		return Clock{Raw: c.Raw}
	}
	c.OK = true
	return c
}

func daysIn(m uint8, y int) uint8 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func bcd(b byte) (uint8, bool) {
	hi, lo := b>>4, b&0x0F
	if hi > 9 || lo > 9 {
		return 0, false
	}
	return hi*10 + lo, true
}
