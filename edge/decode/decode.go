// Package decode implements `shouwang-edge decode dlt645|cjt188 HEX…`, a tool
// for installers and support staff to read a frame copied from a serial sniffer
// or a vendor manual.
//
// All HEX arguments are concatenated into one byte stream (spaces, colons and
// dashes are ignored), so `decode dlt645 68 AA AA …` works without quoting and
// several frames pasted together print several JSON objects, one per line.
// Wake-up bytes (FE) before and between frames are skipped; anything else that
// is not a valid frame stops decoding with an error naming the stream byte.
package decode

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

// Usage is the one-line synopsis printed by the caller on errors.
const Usage = "usage: shouwang-edge decode dlt645|cjt188 HEX…"

// beijing is the zone CJ/T 188 meter clocks are set to; they send no offset,
// and a fixed zone keeps output independent of the host's time zone.
var beijing = time.FixedZone("CST", 8*60*60)

// Run decodes the frames in args[1:] with the protocol named by args[0] and
// writes one JSON object per frame to stdout. Frames decoded before an error
// are still printed.
func Run(args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New(Usage)
	}
	buf, err := parseHex(args[1:])
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	switch args[0] {
	case "dlt645":
		return runDLT645(buf, enc)
	case "cjt188":
		return runCJT188(buf, enc)
	}
	return fmt.Errorf("decode: unknown protocol %q (want dlt645 or cjt188)", args[0])
}

func parseHex(args []string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', ':', '-', ',':
			return -1
		}
		return r
	}, strings.Join(args, ""))
	clean = strings.ReplaceAll(strings.ReplaceAll(clean, "0x", ""), "0X", "")
	if len(clean)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (%d)", len(clean))
	}
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("invalid hex: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("no bytes given")
	}
	return b, nil
}

// skipWakeUp returns the index of the first non-FE byte at or after i.
func skipWakeUp(buf []byte, i int) int {
	for i < len(buf) && buf[i] == 0xFE {
		i++
	}
	return i
}

type dltOut struct {
	Protocol  string            `json:"protocol"`
	Direction string            `json:"direction"`
	Address   string            `json:"address"`
	Control   string            `json:"control"`
	DI        string            `json:"di,omitempty"`
	Value     json.RawMessage   `json:"value,omitempty"`
	Values    []json.RawMessage `json:"values,omitempty"`
	Unit      string            `json:"unit,omitempty"`
	Date      string            `json:"date,omitempty"`
	Weekday   *int              `json:"weekday,omitempty"`
	Time      string            `json:"time,omitempty"`
	Seq       *int              `json:"seq,omitempty"`
	More      bool              `json:"more,omitempty"`
	Data      string            `json:"data,omitempty"`
	Error     *errOut           `json:"error,omitempty"`
}

type errOut struct {
	Code string   `json:"code"`
	Bits []string `json:"bits"`
}

func runDLT645(buf []byte, enc *json.Encoder) error {
	var f dlt645.Frame
	var r dlt645.Reading
	for k, pos := 0, skipWakeUp(buf, 0); pos < len(buf); k, pos = k+1, skipWakeUp(buf, pos) {
		n, err := dlt645.Decode(buf[pos:], &f)
		if err != nil {
			var fe *dlt645.FrameError
			if errors.As(err, &fe) {
				shifted := *fe
				shifted.Offset += pos
				err = &shifted
			}
			return fmt.Errorf("decode: frame %d: %w", k+1, err)
		}
		if err := dlt645.ParseReading(&f, &r); err != nil {
			return fmt.Errorf("decode: frame %d at byte %d: %w", k+1, pos, err)
		}
		if err := enc.Encode(dltJSON(&f, &r)); err != nil {
			return fmt.Errorf("decode: write: %w", err)
		}
		pos += n
	}
	return nil
}

func dltJSON(f *dlt645.Frame, r *dlt645.Reading) dltOut {
	o := dltOut{
		Protocol:  "dlt645",
		Direction: "request",
		Address:   f.Address.String(),
		Control:   fmt.Sprintf("%02X", f.Control),
		More:      f.HasMore(),
	}
	if f.IsReply() {
		o.Direction = "reply"
	}
	fn := f.Function()
	if (fn == dlt645.CtrlRead || fn == dlt645.CtrlReadFollow) && !f.IsAbnormal() && len(f.Data()) >= 4 {
		o.DI = r.DI.String()
	}
	if r.HasSeq {
		s := int(r.Seq)
		o.Seq = &s
	} else if fn == dlt645.CtrlReadFollow && !f.IsReply() && len(f.Data()) == 5 {
		s := int(f.Data()[4])
		o.Seq = &s
	}
	switch r.Kind {
	case dlt645.KindValues:
		o.Unit = r.Unit.String()
		if r.DI>>8&0xFF == 0xFF { // block DIs (…FF…) list every value
			for i := 0; i < r.N; i++ {
				o.Values = append(o.Values, r.Values[i].AppendText(nil))
			}
		} else {
			o.Value = r.Values[0].AppendText(nil)
		}
	case dlt645.KindDate:
		if r.Date.OK {
			o.Date = fmt.Sprintf("%04d-%02d-%02d", r.Date.Year, r.Date.Month, r.Date.Day)
			w := int(r.Date.Weekday)
			o.Weekday = &w
		} else {
			o.Value = json.RawMessage("null")
		}
	case dlt645.KindTime:
		if r.Time.OK {
			o.Time = fmt.Sprintf("%02d:%02d:%02d", r.Time.Hour, r.Time.Minute, r.Time.Second)
		} else {
			o.Value = json.RawMessage("null")
		}
	case dlt645.KindError:
		o.Error = &errOut{Code: fmt.Sprintf("%02X", uint8(r.Error)), Bits: r.Error.Names()}
		if o.Error.Bits == nil {
			o.Error.Bits = []string{}
		}
	case dlt645.KindRaw:
		o.Data = strings.ToUpper(hex.EncodeToString(f.Data()[4:]))
	case dlt645.KindNone:
		if fn == dlt645.CtrlBroadcastTime && len(f.Data()) == 6 {
			d := f.Data() // ss mm hh DD MM YY
			o.Data = fmt.Sprintf("20%02X-%02X-%02X %02X:%02X:%02X", d[5], d[4], d[3], d[2], d[1], d[0])
		}
	}
	return o
}

type cjtOut struct {
	Protocol       string          `json:"protocol"`
	Direction      string          `json:"direction"`
	MeterType      string          `json:"meter_type"`
	MeterTypeName  string          `json:"meter_type_name"`
	Address        string          `json:"address"`
	Control        string          `json:"control"`
	DI             string          `json:"di,omitempty"`
	DIOrder        string          `json:"di_order,omitempty"`
	SER            int             `json:"ser"`
	CurrentFlow    json.RawMessage `json:"current_flow,omitempty"`
	SettlementFlow json.RawMessage `json:"settlement_flow,omitempty"`
	Unit           string          `json:"unit,omitempty"`
	SettlementUnit string          `json:"settlement_unit,omitempty"`
	Clock          *string         `json:"clock,omitempty"`
	ClockRaw       string          `json:"clock_raw,omitempty"`
	Status         *statusOut      `json:"status,omitempty"`
	Data           string          `json:"data,omitempty"`
	Error          *statusOut      `json:"error,omitempty"`
	// nullClock forces "clock": null for 901F replies without a usable clock.
	nullClock bool
}

type statusOut struct {
	ST1        string `json:"st1"`
	ST2        string `json:"st2"`
	Valve      string `json:"valve"`
	BatteryLow bool   `json:"battery_low"`
}

// MarshalJSON keeps "clock" and "status" as explicit nulls on meter-data
// replies, where absence is information, while omitting them elsewhere.
func (o cjtOut) MarshalJSON() ([]byte, error) {
	type plain cjtOut
	b, err := json.Marshal(plain(o))
	if err != nil || !o.nullClock {
		return b, err
	}
	var extra []string
	if o.Clock == nil {
		extra = append(extra, `"clock":null`)
	}
	if o.Status == nil {
		extra = append(extra, `"status":null`)
	}
	if len(extra) == 0 {
		return b, nil
	}
	return append(append(b[:len(b)-1], ","+strings.Join(extra, ",")...), '}'), nil
}

func runCJT188(buf []byte, enc *json.Encoder) error {
	var f cjt188.Frame
	var r cjt188.Reading
	for k, pos := 0, skipWakeUp(buf, 0); pos < len(buf); k, pos = k+1, skipWakeUp(buf, pos) {
		n, err := cjt188.Decode(buf[pos:], &f)
		if err != nil {
			var fe *cjt188.FrameError
			if errors.As(err, &fe) {
				shifted := *fe
				shifted.Offset += pos
				err = &shifted
			}
			return fmt.Errorf("decode: frame %d: %w", k+1, err)
		}
		if err := cjt188.ParseReading(&f, &r); err != nil {
			return fmt.Errorf("decode: frame %d at byte %d: %w", k+1, pos, err)
		}
		if err := enc.Encode(cjtJSON(&f, &r)); err != nil {
			return fmt.Errorf("decode: write: %w", err)
		}
		pos += n
	}
	return nil
}

func cjtJSON(f *cjt188.Frame, r *cjt188.Reading) cjtOut {
	o := cjtOut{
		Protocol:      "cjt188",
		Direction:     "request",
		MeterType:     fmt.Sprintf("%02X", uint8(f.Type)),
		MeterTypeName: f.Type.String(),
		Address:       f.Address.String(),
		Control:       fmt.Sprintf("%02X", f.Control),
		SER:           int(r.SER),
	}
	if f.IsReply() {
		o.Direction = "reply"
	}
	if r.HasDI {
		o.DI, o.DIOrder = r.DI.String(), r.DIOrder.String()
	}
	if r.Status.OK {
		o.Status = &statusOut{
			ST1: fmt.Sprintf("%02X", r.Status.ST1), ST2: fmt.Sprintf("%02X", r.Status.ST2),
			Valve: r.Status.Valve().String(), BatteryLow: r.Status.BatteryLow(),
		}
	}
	switch r.Kind {
	case cjt188.KindError:
		// An abnormal reply's status bytes say why; report them as the error.
		o.Error, o.Status = o.Status, nil
	case cjt188.KindMeterData:
		o.nullClock = true
		o.CurrentFlow = r.CurrentFlow.AppendText(nil)
		o.SettlementFlow = r.SettlementFlow.AppendText(nil)
		o.Unit = r.CurrentUnit.String()
		if r.SettlementUnit != r.CurrentUnit {
			o.SettlementUnit = r.SettlementUnit.String()
		}
		if r.Clock.OK {
			s := r.Clock.Time(beijing).Format(time.RFC3339)
			o.Clock = &s
		} else if r.Clock.Raw != [7]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF} {
			// Present but impossible (e.g. all zeros): show what the meter sent.
			o.ClockRaw = strings.ToUpper(hex.EncodeToString(r.Clock.Raw[:]))
		}
	case cjt188.KindRaw:
		o.Data = strings.ToUpper(hex.EncodeToString(r.Payload))
	}
	return o
}
