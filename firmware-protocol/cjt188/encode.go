package cjt188

import (
	"fmt"
	"time"
)

// AppendWakeUp appends n wake-up bytes (0xFE).
func AppendWakeUp(dst []byte, n int) []byte {
	for i := 0; i < n; i++ {
		dst = append(dst, WakeUp)
	}
	return dst
}

// AppendFrame appends a complete frame around data (DI, SER and payload as
// they go on the wire) and computes the checksum.
func AppendFrame(dst []byte, t MeterType, addr Address, control byte, data []byte) ([]byte, error) {
	if len(data) > MaxDataLen {
		return dst, fmt.Errorf("cjt188: data field of %d bytes exceeds %d", len(data), MaxDataLen)
	}
	s := len(dst)
	dst = append(dst, start, byte(t))
	dst = append(dst, addr[:]...)
	dst = append(dst, control, byte(len(data)))
	dst = append(dst, data...)
	var sum byte
	for _, b := range dst[s:] {
		sum += b
	}
	return append(dst, sum, end), nil
}

// AppendReadRequest appends a read-data request (control 0x01) for di.
func AppendReadRequest(dst []byte, t MeterType, addr Address, di DI, ser uint8, order DIOrder) []byte {
	var d [3]byte
	out, _ := AppendFrame(dst, t, addr, CtrlRead, append(order.appendDI(d[:0], di), ser))
	return out
}

// AppendReadAddressRequest appends a read-address request (control 0x03, DI
// 810A) to the wildcard address; valid only with one meter on the bus.
func AppendReadAddressRequest(dst []byte, t MeterType, ser uint8, order DIOrder) []byte {
	var d [3]byte
	out, _ := AppendFrame(dst, t, Wildcard, CtrlReadAddress, append(order.appendDI(d[:0], DIAddress), ser))
	return out
}

// AppendAddressReply appends a meter's reply to read-address (control 0x83).
func AppendAddressReply(dst []byte, t MeterType, addr Address, ser uint8, order DIOrder) []byte {
	var d [3]byte
	out, _ := AppendFrame(dst, t, addr, CtrlReadAddressReply, append(order.appendDI(d[:0], DIAddress), ser))
	return out
}

// MeterData is what a meter reports for DI 901F; used by AppendMeterDataReply.
// Absent values (OK=false) are sent as 0xFF bytes.
type MeterData struct {
	CurrentFlow, SettlementFlow Value
	Unit                        Unit // both flows use the same unit
	Clock                       time.Time
	HasClock                    bool
	Status                      Status
}

// AppendMeterDataReply appends a reply (control 0x81) to a 901F read.
func AppendMeterDataReply(dst []byte, t MeterType, addr Address, ser uint8, order DIOrder, m *MeterData) ([]byte, error) {
	var d [3 + meterDataLen]byte
	data := append(order.appendDI(d[:0], DIMeterData), ser)
	var err error
	if data, err = appendFlow(data, m.CurrentFlow); err != nil {
		return dst, fmt.Errorf("cjt188: current flow: %w", err)
	}
	data = append(data, byte(m.Unit))
	if data, err = appendFlow(data, m.SettlementFlow); err != nil {
		return dst, fmt.Errorf("cjt188: settlement flow: %w", err)
	}
	data = append(data, byte(m.Unit))
	if m.HasClock {
		c := m.Clock
		data = append(data, toBCD(c.Second()), toBCD(c.Minute()), toBCD(c.Hour()),
			toBCD(c.Day()), toBCD(int(c.Month())), toBCD(c.Year()%100), toBCD(c.Year()/100))
	} else {
		data = append(data, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	}
	if m.Status.OK {
		data = append(data, m.Status.ST1, m.Status.ST2)
	} else {
		data = append(data, 0xFF, 0xFF)
	}
	return AppendFrame(dst, t, addr, CtrlReadReply, data)
}

// AppendErrorReply appends an abnormal reply to request control req
// (0x01 → 0xC1, 0x03 → 0xC3) with the standard layout SER ST1 ST2.
func AppendErrorReply(dst []byte, t MeterType, addr Address, req byte, ser uint8, st Status) []byte {
	out, _ := AppendFrame(dst, t, addr, req&CtrlFuncMask|CtrlDirReply|CtrlAbnormal, []byte{ser, st.ST1, st.ST2})
	return out
}

func appendFlow(dst []byte, v Value) ([]byte, error) {
	if !v.OK {
		return append(dst, 0xFF, 0xFF, 0xFF, 0xFF), nil
	}
	n := v.Int
	for d := v.Decimals; d < 2; d++ {
		n *= 10
	}
	for d := v.Decimals; d > 2; d-- {
		if n%10 != 0 {
			return dst, fmt.Errorf("%s has more than 2 decimals", v)
		}
		n /= 10
	}
	if n < 0 || n > 99999999 {
		return dst, fmt.Errorf("%s does not fit XXXXXX.XX", v)
	}
	for i := 0; i < 4; i++ {
		dst = append(dst, byte(n%10)|byte(n/10%10)<<4)
		n /= 100
	}
	return dst, nil
}

func toBCD(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }
