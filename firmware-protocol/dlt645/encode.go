package dlt645

import (
	"fmt"
	"time"
)

// AppendWakeUp appends n wake-up bytes (0xFE). Masters conventionally send 4
// before each request; encoders leave that choice to the caller.
func AppendWakeUp(dst []byte, n int) []byte {
	for i := 0; i < n; i++ {
		dst = append(dst, WakeUp)
	}
	return dst
}

// AppendFrame appends a complete frame. data is given without the 0x33 offset;
// AppendFrame adds it and computes the checksum.
func AppendFrame(dst []byte, addr Address, control byte, data []byte) ([]byte, error) {
	if len(data) > MaxDataLen {
		return dst, fmt.Errorf("dlt645: data field of %d bytes exceeds %d", len(data), MaxDataLen)
	}
	s := len(dst)
	dst = append(dst, start)
	dst = append(dst, addr[:]...)
	dst = append(dst, start, control, byte(len(data)))
	for _, b := range data {
		dst = append(dst, b+offset)
	}
	var sum byte
	for _, b := range dst[s:] {
		sum += b
	}
	return append(dst, sum, end), nil
}

func appendDI(dst []byte, di DI) []byte {
	return append(dst, byte(di), byte(di>>8), byte(di>>16), byte(di>>24))
}

// AppendReadRequest appends a read-data request (control 0x11).
func AppendReadRequest(dst []byte, addr Address, di DI) []byte {
	var d [4]byte
	out, _ := AppendFrame(dst, addr, CtrlRead, appendDI(d[:0], di))
	return out
}

// AppendReadFollowRequest appends a read follow-up request (control 0x12) for
// frame seq of a multi-frame reply.
func AppendReadFollowRequest(dst []byte, addr Address, di DI, seq uint8) []byte {
	var d [5]byte
	out, _ := AppendFrame(dst, addr, CtrlReadFollow, append(appendDI(d[:0], di), seq))
	return out
}

// AppendReadAddressRequest appends a read-address request (control 0x13) to the
// wildcard address; only valid with a single meter on the bus.
func AppendReadAddressRequest(dst []byte) []byte {
	out, _ := AppendFrame(dst, Wildcard, CtrlReadAddress, nil)
	return out
}

// AppendBroadcastTime appends a broadcast time-sync frame (control 0x08,
// address 99…99, data ss mm hh DD MM YY). Meters do not answer it.
func AppendBroadcastTime(dst []byte, t time.Time) []byte {
	d := [6]byte{
		toBCD(t.Second()), toBCD(t.Minute()), toBCD(t.Hour()),
		toBCD(t.Day()), toBCD(int(t.Month())), toBCD(t.Year() % 100),
	}
	out, _ := AppendFrame(dst, Broadcast, CtrlBroadcastTime, d[:])
	return out
}

// AppendReadAddressReply appends a meter's reply to a read-address request.
func AppendReadAddressReply(dst []byte, addr Address) []byte {
	out, _ := AppendFrame(dst, addr, CtrlReadAddrReply, addr[:])
	return out
}

// AppendErrorReply appends an abnormal reply to request control code req
// (0x11 → 0xD1, 0x12 → 0xD2).
func AppendErrorReply(dst []byte, addr Address, req byte, bits ErrorBits) []byte {
	out, _ := AppendFrame(dst, addr, req&CtrlFuncMask|CtrlDirReply|CtrlAbnormal, []byte{byte(bits)})
	return out
}

// AppendReadReply appends a normal read-data reply (control 0x91) carrying r.
// r.DI selects the format; r.Values[:r.N], r.Date or r.Time supply the data.
// Absent values (OK=false) are sent as 0xFF bytes, as meters do. For a DI the
// codec does not know, use AppendRawReply.
func AppendReadReply(dst []byte, addr Address, r *Reading) ([]byte, error) {
	var d [4 + MaxValues*4]byte
	data := appendDI(d[:0], r.DI)
	fm, kind := formatOf(r.DI)
	switch kind {
	case KindDate:
		if !r.Date.OK {
			data = append(data, 0xFF, 0xFF, 0xFF, 0xFF)
		} else {
			data = append(data, toBCD(int(r.Date.Weekday)), toBCD(int(r.Date.Day)), toBCD(int(r.Date.Month)), toBCD(r.Date.Year%100))
		}
	case KindTime:
		if !r.Time.OK {
			data = append(data, 0xFF, 0xFF, 0xFF)
		} else {
			data = append(data, toBCD(int(r.Time.Second)), toBCD(int(r.Time.Minute)), toBCD(int(r.Time.Hour)))
		}
	case KindValues:
		want := r.N
		if fm.block > 0 && want != fm.block {
			return dst, fmt.Errorf("dlt645: DI %s: block needs %d values, have %d", r.DI, fm.block, want)
		}
		if fm.block == 0 && want != 1 {
			return dst, fmt.Errorf("dlt645: DI %s: needs 1 value, have %d", r.DI, want)
		}
		if want < 1 || want > MaxValues {
			return dst, fmt.Errorf("dlt645: DI %s: %d values", r.DI, want)
		}
		for i := 0; i < want; i++ {
			var err error
			data, err = appendBCD(data, r.Values[i], fm)
			if err != nil {
				return dst, fmt.Errorf("dlt645: DI %s value %d: %w", r.DI, i, err)
			}
		}
	default:
		return dst, fmt.Errorf("dlt645: DI %s: no known format; use AppendRawReply", r.DI)
	}
	return AppendFrame(dst, addr, CtrlReadReply, data)
}

// AppendRawReply appends a read-data reply with an opaque payload (no 0x33 offset).
func AppendRawReply(dst []byte, addr Address, di DI, payload []byte) ([]byte, error) {
	if len(payload) > MaxDataLen-4 {
		return dst, fmt.Errorf("dlt645: payload of %d bytes too long", len(payload))
	}
	d := make([]byte, 0, 4+len(payload))
	return AppendFrame(dst, addr, CtrlReadReply, append(appendDI(d, di), payload...))
}

func appendBCD(dst []byte, v Value, fm format) ([]byte, error) {
	if !v.OK {
		for i := 0; i < fm.size; i++ {
			dst = append(dst, 0xFF)
		}
		return dst, nil
	}
	n := v.Int
	// Rescale to the format's decimals so callers may pass e.g. Decimals=0.
	for d := v.Decimals; d < fm.decimals; d++ {
		n *= 10
	}
	for d := v.Decimals; d > fm.decimals; d-- {
		if n%10 != 0 {
			return dst, fmt.Errorf("%s has more than %d decimals", v, fm.decimals)
		}
		n /= 10
	}
	neg := n < 0
	if neg {
		if !fm.signed {
			return dst, fmt.Errorf("%s is negative in an unsigned field", v)
		}
		n = -n
	}
	var limit int64 = 1
	for i := 0; i < fm.size*2; i++ {
		limit *= 10
	}
	if fm.signed {
		limit = limit / 10 * 8 // top digit shares its nibble with the sign bit
	}
	if n >= limit {
		return dst, fmt.Errorf("%s does not fit %d BCD bytes", v, fm.size)
	}
	for i := 0; i < fm.size; i++ {
		b := byte(n%10) | byte(n/10%10)<<4
		n /= 100
		if i == fm.size-1 && neg {
			b |= 0x80
		}
		dst = append(dst, b)
	}
	return dst, nil
}

func toBCD(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }
