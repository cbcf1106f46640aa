package dlt645

import (
	"fmt"
	"strconv"
)

// DI is a data identifier written as in the standard's tables, most significant
// byte first (0x00010000 is forward active total energy). On the wire it is sent
// low byte first.
type DI uint32

// Data identifiers the decoder understands. Others decode as KindRaw.
const (
	DICombinedActiveTotal DI = 0x00000000 // 组合有功总电能, kWh, signed
	DIForwardActiveTotal  DI = 0x00010000 // 正向有功总电能, kWh
	DIReverseActiveTotal  DI = 0x00020000 // 反向有功总电能, kWh
	DIVoltageA            DI = 0x02010100
	DIVoltageB            DI = 0x02010200
	DIVoltageC            DI = 0x02010300
	DIVoltageBlock        DI = 0x0201FF00
	DICurrentA            DI = 0x02020100
	DICurrentB            DI = 0x02020200
	DICurrentC            DI = 0x02020300
	DICurrentBlock        DI = 0x0202FF00
	DIActivePowerTotal    DI = 0x02030000
	DIActivePowerBlock    DI = 0x0203FF00
	DIPowerFactorTotal    DI = 0x02060000
	DIPowerFactorBlock    DI = 0x0206FF00
	DIDate                DI = 0x04000101 // YYMMDDWW
	DITime                DI = 0x04000102 // hhmmss
)

// String formats the DI as in the standard's tables, e.g. "00010000".
func (d DI) String() string {
	var b [8]byte
	return string(d.AppendText(b[:0]))
}

// AppendText appends the 8 hex digits of d.
func (d DI) AppendText(dst []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for s := 28; s >= 0; s -= 4 {
		dst = append(dst, hexDigits[(d>>s)&0xF])
	}
	return dst
}

// ParseDI parses 8 hex digits as written in the standard's tables.
func ParseDI(s string) (DI, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("dlt645: DI %q: want 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("dlt645: DI %q: %w", s, err)
	}
	return DI(v), nil
}

func diFromWire(b []byte) DI {
	return DI(b[0]) | DI(b[1])<<8 | DI(b[2])<<16 | DI(b[3])<<24
}

// Unit of a decoded value.
type Unit uint8

const (
	UnitNone Unit = iota
	UnitKWh
	UnitVolt
	UnitAmpere
	UnitKW
)

func (u Unit) String() string {
	switch u {
	case UnitKWh:
		return "kWh"
	case UnitVolt:
		return "V"
	case UnitAmpere:
		return "A"
	case UnitKW:
		return "kW"
	}
	return ""
}

// Value is a fixed-point decimal: Int / 10^Decimals. Fixed point keeps meter
// readings exact (0.1 kWh is not representable as a float64) and allocation free.
// OK is false when the meter filled the field with 0xFF ("not supported").
type Value struct {
	Int      int64
	Decimals uint8
	OK       bool
}

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// Float64 returns the value as a float64 (0 if !OK).
func (v Value) Float64() float64 {
	if !v.OK {
		return 0
	}
	return float64(v.Int) / pow10[v.Decimals]
}

// AppendText appends the exact decimal representation, e.g. "225.6", "-0.012".
// An absent value appends "null" so the result can go straight into JSON.
func (v Value) AppendText(dst []byte) []byte {
	if !v.OK {
		return append(dst, "null"...)
	}
	n := v.Int
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], n, 10)
	d := int(v.Decimals)
	for len(s) <= d {
		s = append([]byte{'0'}, s...) // rare, tiny; clarity over speed here
	}
	dst = append(dst, s[:len(s)-d]...)
	if d > 0 {
		dst = append(dst, '.')
		dst = append(dst, s[len(s)-d:]...)
	}
	return dst
}

func (v Value) String() string { return string(v.AppendText(nil)) }

// Kind says which fields of a Reading are meaningful.
type Kind uint8

const (
	KindNone    Kind = iota
	KindValues       // Values[:N] in Unit
	KindDate         // Date
	KindTime         // Time
	KindAddress      // Address (reply to read address)
	KindError        // Error (abnormal reply)
	KindRaw          // DI known to be data but not decoded; see Frame.Data
)

// Date is the meter's calendar date as sent (no time zone; meters keep local time).
type Date struct {
	Year       int // full year, 2000-based
	Month, Day uint8
	Weekday    uint8 // 0 = Sunday … 6 = Saturday
	OK         bool
}

// TimeOfDay is the meter's local wall-clock time.
type TimeOfDay struct {
	Hour, Minute, Second uint8
	OK                   bool
}

// ErrorBits is the error byte of an abnormal reply (control 0xD1/0xD2/…).
type ErrorBits uint8

// Bits of ErrorBits as defined by DL/T 645-2007 (table "异常应答帧错误信息字").
const (
	ErrOther        ErrorBits = 1 << 0 // 其他错误
	ErrNoData       ErrorBits = 1 << 1 // 无请求数据
	ErrUnauthorized ErrorBits = 1 << 2 // 密码错/未授权
	ErrBaudFixed    ErrorBits = 1 << 3 // 通信速率不能更改
	ErrYearZones    ErrorBits = 1 << 4 // 年时区数超
	ErrDaySlots     ErrorBits = 1 << 5 // 日时段数超
	ErrTariffs      ErrorBits = 1 << 6 // 费率数超
	ErrReservedBit7 ErrorBits = 1 << 7 // 保留
)

var errorBitNames = [8]string{
	"other error (其他错误)",
	"no requested data (无请求数据)",
	"wrong password or unauthorized (密码错/未授权)",
	"baud rate cannot be changed (通信速率不能更改)",
	"too many year time zones (年时区数超)",
	"too many day time slots (日时段数超)",
	"too many tariffs (费率数超)",
	"reserved bit 7 (保留)",
}

// Name returns the name of a single bit.
func (e ErrorBits) Name() string {
	for i := 0; i < 8; i++ {
		if e == 1<<i {
			return errorBitNames[i]
		}
	}
	return fmt.Sprintf("error bits 0x%02X", uint8(e))
}

// Names lists the names of the set bits, lowest first.
func (e ErrorBits) Names() []string {
	var out []string
	for i := 0; i < 8; i++ {
		if e&(1<<i) != 0 {
			out = append(out, errorBitNames[i])
		}
	}
	return out
}

func (e ErrorBits) Error() string {
	return fmt.Sprintf("dlt645: meter error 0x%02X %v", uint8(e), e.Names())
}

// MaxValues bounds block replies. DL/T 645-2007 energy blocks can list up to 63
// tariffs; we keep 16 (total + 15), enough for every residential meter we know,
// and reject longer blocks rather than truncate them silently.
const MaxValues = 16

// Reading is the decoded payload of a reply frame.
type Reading struct {
	Kind    Kind
	DI      DI
	Unit    Unit
	N       int
	Values  [MaxValues]Value
	Date    Date
	Time    TimeOfDay
	Address Address
	Error   ErrorBits
	// Seq is the frame sequence number of a read follow-up reply (0x92).
	Seq    uint8
	HasSeq bool
}

// Value returns the first value; convenient for single-value DIs.
func (r *Reading) Value() Value { return r.Values[0] }

// format of one DI's data.
type format struct {
	size     int // bytes per value
	decimals uint8
	signed   bool
	unit     Unit
	block    int // values in a block DI (…FF…), 0 when not a block
}

// formatOf returns the data format of a DI. A switch rather than a map keeps the
// hot path allocation free and lets the compiler build a jump table.
func formatOf(di DI) (format, Kind) {
	switch {
	case di == DIDate:
		return format{size: 4}, KindDate
	case di == DITime:
		return format{size: 3}, KindTime
	case di>>24 == 0x00 && di&0xFF == 0x00 && (di>>16)&0xFF <= 0x0A:
		// Energy 00 ss tt 00: ss = kind (00 combined, 01 forward, 02 reverse, …),
		// tt = tariff (00 total, 01…3F, FF block). Combined active energy may be
		// negative; the standard marks its top bit as sign.
		f := format{size: 4, decimals: 2, unit: UnitKWh, signed: (di>>16)&0xFF == 0x00}
		if (di>>8)&0xFF == 0xFF {
			f.block = -1 // variable: total + tariffs, length decides
		}
		return f, KindValues
	case di&0xFFFF00FF == 0x02010000:
		return phase(di, format{size: 2, decimals: 1, unit: UnitVolt}, 3)
	case di&0xFFFF00FF == 0x02020000:
		return phase(di, format{size: 3, decimals: 3, signed: true, unit: UnitAmpere}, 3)
	case di&0xFFFF00FF == 0x02030000:
		return phase(di, format{size: 3, decimals: 4, signed: true, unit: UnitKW}, 4)
	case di&0xFFFF00FF == 0x02060000:
		return phase(di, format{size: 2, decimals: 3, signed: true}, 4)
	}
	return format{}, KindRaw
}

// phase handles the xx byte of 02ssxx00: 00 total (where it exists), 01-03 phases A-C, FF block.
func phase(di DI, f format, blockLen int) (format, Kind) {
	switch x := (di >> 8) & 0xFF; {
	case x == 0xFF:
		f.block = blockLen
	case x >= 1 && x <= 3:
	case x == 0 && blockLen == 4: // totals exist for power and power factor only
	default:
		return format{}, KindRaw
	}
	return f, KindValues
}

// ParseError reports a payload that does not fit its DI's format.
type ParseError struct {
	DI     DI
	Offset int // byte offset within the data field (0x33 removed)
	Msg    string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("dlt645: DI %s: data byte %d: %s", e.DI, e.Offset, e.Msg)
}

// ParseReading decodes the payload of a reply frame into r. Requests and
// unknown control codes yield KindNone; unknown DIs yield KindRaw.
func ParseReading(f *Frame, r *Reading) error {
	*r = Reading{}
	d := f.Data()
	if !f.IsReply() {
		if len(d) >= 4 && (f.Function() == CtrlRead || f.Function() == CtrlReadFollow) {
			r.DI = diFromWire(d)
		}
		return nil
	}
	if f.IsAbnormal() {
		if len(d) != 1 {
			return &ParseError{Offset: len(d), Msg: fmt.Sprintf("abnormal reply has %d data bytes, expected 1 (error byte)", len(d))}
		}
		r.Kind = KindError
		r.Error = ErrorBits(d[0])
		return nil
	}
	switch f.Function() {
	case CtrlReadAddress:
		if len(d) != 6 {
			return &ParseError{Offset: len(d), Msg: fmt.Sprintf("read-address reply has %d data bytes, expected 6", len(d))}
		}
		r.Kind = KindAddress
		copy(r.Address[:], d)
		return nil
	case CtrlRead, CtrlReadFollow:
	default:
		return nil
	}
	if len(d) < 4 {
		return &ParseError{Offset: len(d), Msg: fmt.Sprintf("reply has %d data bytes, expected at least 4 (DI)", len(d))}
	}
	r.DI = diFromWire(d)
	payload := d[4:]
	if f.Function() == CtrlReadFollow {
		// Follow-up replies end with a sequence byte.
		if len(payload) < 1 {
			return &ParseError{DI: r.DI, Offset: 4, Msg: "follow-up reply lacks its sequence byte"}
		}
		r.Seq, r.HasSeq = payload[len(payload)-1], true
		payload = payload[:len(payload)-1]
	}
	fm, kind := formatOf(r.DI)
	r.Kind = kind
	switch kind {
	case KindRaw:
		return nil
	case KindDate:
		if len(payload) != 4 {
			return sizeErr(r.DI, len(payload), 4)
		}
		if allFF(payload) {
			return nil
		}
		// Wire order is WW DD MM YY.
		var v [4]uint8
		for i, b := range payload {
			x, ok := bcd(b)
			if !ok {
				return bcdErr(r.DI, 4+i, b)
			}
			v[i] = x
		}
		r.Date = Date{Year: 2000 + int(v[3]), Month: v[2], Day: v[1], Weekday: v[0], OK: true}
		if r.Date.Month < 1 || r.Date.Month > 12 || r.Date.Day < 1 || r.Date.Day > 31 || r.Date.Weekday > 6 {
			return &ParseError{DI: r.DI, Offset: 4, Msg: fmt.Sprintf("date %02d-%02d weekday %d out of range", r.Date.Month, r.Date.Day, r.Date.Weekday)}
		}
		return nil
	case KindTime:
		if len(payload) != 3 {
			return sizeErr(r.DI, len(payload), 3)
		}
		if allFF(payload) {
			return nil
		}
		var v [3]uint8 // ss mm hh
		for i, b := range payload {
			x, ok := bcd(b)
			if !ok {
				return bcdErr(r.DI, 4+i, b)
			}
			v[i] = x
		}
		r.Time = TimeOfDay{Hour: v[2], Minute: v[1], Second: v[0], OK: true}
		if v[2] > 23 || v[1] > 59 || v[0] > 59 {
			return &ParseError{DI: r.DI, Offset: 4, Msg: fmt.Sprintf("time %02d:%02d:%02d out of range", v[2], v[1], v[0])}
		}
		return nil
	}
	r.Unit = fm.unit
	count := 1
	switch {
	case fm.block < 0:
		if len(payload) == 0 || len(payload)%fm.size != 0 {
			return &ParseError{DI: r.DI, Offset: 4, Msg: fmt.Sprintf("block of %d bytes is not a multiple of %d", len(payload), fm.size)}
		}
		count = len(payload) / fm.size
		if count > MaxValues {
			return &ParseError{DI: r.DI, Offset: 4, Msg: fmt.Sprintf("block of %d values exceeds %d", count, MaxValues)}
		}
	case fm.block > 0:
		count = fm.block
	}
	if len(payload) != count*fm.size {
		return sizeErr(r.DI, len(payload), count*fm.size)
	}
	for i := 0; i < count; i++ {
		v, off, ok := decodeBCD(payload[i*fm.size:(i+1)*fm.size], fm.signed)
		if !ok {
			b := payload[i*fm.size+off]
			return bcdErr(r.DI, 4+i*fm.size+off, b)
		}
		v.Decimals = fm.decimals
		r.Values[i] = v
	}
	r.N = count
	return nil
}

func sizeErr(di DI, got, want int) error {
	return &ParseError{DI: di, Offset: 4, Msg: fmt.Sprintf("%d value bytes, expected %d", got, want)}
}

func bcdErr(di DI, off int, b byte) error {
	return &ParseError{DI: di, Offset: off, Msg: fmt.Sprintf("invalid BCD 0x%02X", b)}
}

func bcd(b byte) (uint8, bool) {
	hi, lo := b>>4, b&0x0F
	if hi > 9 || lo > 9 {
		return 0, false
	}
	return hi*10 + lo, true
}

func allFF(b []byte) bool {
	for _, x := range b {
		if x != 0xFF {
			return false
		}
	}
	return true
}

// decodeBCD decodes little-endian BCD. With signed, bit 7 of the most
// significant byte is the sign. All-0xFF means "not supported" (OK=false).
// On a bad digit it returns the offending byte's index.
func decodeBCD(b []byte, signed bool) (Value, int, bool) {
	if allFF(b) {
		return Value{}, 0, true
	}
	var n int64
	neg := false
	for i := len(b) - 1; i >= 0; i-- {
		x := b[i]
		if signed && i == len(b)-1 {
			neg = x&0x80 != 0
			x &= 0x7F
		}
		d, ok := bcd(x)
		if !ok {
			return Value{}, i, false
		}
		n = n*100 + int64(d)
	}
	if neg {
		n = -n
	}
	return Value{Int: n, OK: true}, 0, true
}
