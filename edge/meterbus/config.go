package meterbus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

// Protocol names as written in the configuration.
const (
	DLT645 = "dlt645" // electricity meters, DL/T 645-2007
	CJT188 = "cjt188" // water meters, CJ/T 188-2004
)

// Defaults applied by BusConfig.WithDefaults.
const (
	DefaultBaud            = 2400
	DefaultResponseTimeout = time.Second
	DefaultInterFrameGap   = 50 * time.Millisecond
	MinInterFrameGap       = 20 * time.Millisecond
	DefaultRetries         = 2
	DefaultRetryBackoff    = 200 * time.Millisecond
	DefaultFaultAfter      = 5
	DefaultReopenAfter     = 3
	DefaultReopenMax       = 30 * time.Second
	DefaultWakeUp          = 4
	DefaultInterval        = time.Minute
	DefaultWaterSensor     = "water"
	DefaultPowerSensor     = "power"
	// Plausibility limits: a DN15 water meter's overload flow is 3.125 m³/h and a
	// 60 A single-phase supply draws under 14 kW.
	DefaultWaterMaxPerHour = 5.0
	DefaultPowerMaxPerHour = 25.0
)

// Config is the meterbus section of the edge configuration.
type Config struct {
	Buses []BusConfig `yaml:"buses"`
}

// Validate checks every bus and that no two meters share a sensor name (their
// cumulative totals would be mixed into one series).
func (c Config) Validate() error {
	sensors := map[string]string{}
	ports := map[string]int{}
	for i, b := range c.Buses {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("buses[%d].%w", i, err)
		}
		if j, dup := ports[b.Port]; dup {
			return fmt.Errorf("buses[%d].port: %s is already buses[%d]; one goroutine must own each half-duplex line", i, b.Port, j)
		}
		ports[b.Port] = i
		for k, m := range b.WithDefaults().Meters {
			where := fmt.Sprintf("buses[%d].meters[%d]", i, k)
			if prev, dup := sensors[m.Sensor]; dup {
				return fmt.Errorf("%s.sensor: %q is already used by %s", where, m.Sensor, prev)
			}
			sensors[m.Sensor] = where
		}
	}
	return nil
}

// BusConfig is one serial line and the meters on it. Zero values mean the
// defaults above; Retries and WakeUp take -1 for "none".
type BusConfig struct {
	Port     string `yaml:"port"`               // prefer /dev/serial/by-id/… or /dev/serial/by-path/…
	Baud     int    `yaml:"baud,omitempty"`     // 2400
	Protocol string `yaml:"protocol,omitempty"` // default for meters that name none

	ResponseTimeout time.Duration `yaml:"response_timeout,omitempty"` // wait for a reply
	InterFrameGap   time.Duration `yaml:"inter_frame_gap,omitempty"`  // silence between frames, ≥ 20ms
	Retries         int           `yaml:"retries,omitempty"`          // extra attempts per poll
	RetryBackoff    time.Duration `yaml:"retry_backoff,omitempty"`    // doubled for each retry
	FaultAfter      int           `yaml:"fault_after,omitempty"`      // failed polls before a fault event
	ReopenAfter     int           `yaml:"reopen_after,omitempty"`     // failed polls in a row before reopening the port
	ReopenMax       time.Duration `yaml:"reopen_max,omitempty"`       // cap of the reopen backoff
	WakeUp          int           `yaml:"wake_up,omitempty"`          // FE bytes before each request

	Meters []MeterConfig `yaml:"meters"`
}

// MeterConfig is one meter on a bus.
type MeterConfig struct {
	Protocol string        `yaml:"protocol,omitempty"` // dlt645 | cjt188; default the bus's
	Address  string        `yaml:"address"`            // nameplate digits, most significant first
	Sensor   string        `yaml:"sensor,omitempty"`   // event sensor name; "water" / "power"
	Interval time.Duration `yaml:"interval,omitempty"` // poll period; 1m

	// DL/T 645 only: the data identifier to read (default 00010000, forward
	// active total energy).
	DI string `yaml:"di,omitempty"`
	// CJ/T 188 only: how the meter orders DI bytes (high_first "90 1F", the
	// standard's, or low_first "1F 90") and its type byte T in hex (default 10,
	// cold water).
	DIOrder   string `yaml:"di_order,omitempty"`
	MeterType string `yaml:"meter_type,omitempty"`

	// Rollover is the value (in kWh or m³) at which the meter's counter wraps to
	// zero. Default: 1000000 display units (XXXXXX.XX), i.e. 1e6 kWh, 1e6 m³ or
	// 1000 m³ for a meter counting litres.
	Rollover float64 `yaml:"rollover,omitempty"`
	// MaxPerHour bounds plausible use per hour (kWh or m³); a bigger jump is
	// flagged and not counted. Default 25 kWh, 5 m³.
	MaxPerHour float64 `yaml:"max_per_hour,omitempty"`
}

// WithDefaults returns a copy with every zero field set to its default.
func (b BusConfig) WithDefaults() BusConfig {
	if b.Baud == 0 {
		b.Baud = DefaultBaud
	}
	if b.ResponseTimeout == 0 {
		b.ResponseTimeout = DefaultResponseTimeout
	}
	if b.InterFrameGap == 0 {
		b.InterFrameGap = DefaultInterFrameGap
	}
	switch {
	case b.Retries == 0:
		b.Retries = DefaultRetries
	case b.Retries < 0:
		b.Retries = 0
	}
	if b.RetryBackoff == 0 {
		b.RetryBackoff = DefaultRetryBackoff
	}
	if b.FaultAfter == 0 {
		b.FaultAfter = DefaultFaultAfter
	}
	if b.ReopenAfter == 0 {
		b.ReopenAfter = DefaultReopenAfter
	}
	if b.ReopenMax == 0 {
		b.ReopenMax = DefaultReopenMax
	}
	switch {
	case b.WakeUp == 0:
		b.WakeUp = DefaultWakeUp
	case b.WakeUp < 0:
		b.WakeUp = 0
	}
	meters := make([]MeterConfig, len(b.Meters))
	for i, m := range b.Meters {
		if m.Protocol == "" {
			m.Protocol = b.Protocol
		}
		m.Protocol = strings.ToLower(m.Protocol)
		if m.Interval == 0 {
			m.Interval = DefaultInterval
		}
		switch m.Protocol {
		case DLT645:
			if m.Sensor == "" {
				m.Sensor = DefaultPowerSensor
			}
			if m.DI == "" {
				m.DI = dlt645.DIForwardActiveTotal.String()
			}
			if m.MaxPerHour == 0 {
				m.MaxPerHour = DefaultPowerMaxPerHour
			}
		case CJT188:
			if m.Sensor == "" {
				m.Sensor = DefaultWaterSensor
			}
			if m.DIOrder == "" {
				m.DIOrder = "high_first"
			}
			if m.MeterType == "" {
				m.MeterType = "10"
			}
			if m.MaxPerHour == 0 {
				m.MaxPerHour = DefaultWaterMaxPerHour
			}
		}
		meters[i] = m
	}
	b.Meters = meters
	return b
}

// Validate reports the first problem, naming the field as in the YAML
// ("meters[1].address: …"); Config.Validate prefixes "buses[i].".
func (b BusConfig) Validate() error {
	if strings.TrimSpace(b.Port) == "" {
		return errors.New("port: empty; use a stable path such as /dev/serial/by-id/…")
	}
	if b.Baud < 0 || (b.Baud != 0 && !validBaud(b.Baud)) {
		return fmt.Errorf("baud: %d is not a standard rate (meters use 1200, 2400, 4800 or 9600)", b.Baud)
	}
	if b.Protocol != "" && !validProtocol(b.Protocol) {
		return fmt.Errorf("protocol: %q, want dlt645 or cjt188", b.Protocol)
	}
	if b.InterFrameGap != 0 && b.InterFrameGap < MinInterFrameGap {
		return fmt.Errorf("inter_frame_gap: %v, at least %v so RS-485 transceivers can turn the line around", b.InterFrameGap, MinInterFrameGap)
	}
	for name, d := range map[string]time.Duration{
		"response_timeout": b.ResponseTimeout, "retry_backoff": b.RetryBackoff, "reopen_max": b.ReopenMax,
	} {
		if d < 0 {
			return fmt.Errorf("%s: %v is negative", name, d)
		}
	}
	if b.FaultAfter < 0 {
		return fmt.Errorf("fault_after: %d is negative", b.FaultAfter)
	}
	if b.ReopenAfter < 0 {
		return fmt.Errorf("reopen_after: %d is negative", b.ReopenAfter)
	}
	if len(b.Meters) == 0 {
		return errors.New("meters: empty; run `shouwang-edge scan` to find addresses")
	}
	d := b.WithDefaults()
	seen := map[string]int{}
	for i, m := range d.Meters {
		if err := m.validate(); err != nil {
			return fmt.Errorf("meters[%d].%w", i, err)
		}
		key := m.Protocol + "/" + m.canonicalAddress()
		if j, dup := seen[key]; dup {
			return fmt.Errorf("meters[%d].address: %s is already meters[%d]", i, m.Address, j)
		}
		seen[key] = i
	}
	return nil
}

func (m MeterConfig) validate() error {
	if !validProtocol(m.Protocol) {
		if m.Protocol == "" {
			return errors.New("protocol: missing (set it on the meter or the bus): dlt645 or cjt188")
		}
		return fmt.Errorf("protocol: %q, want dlt645 or cjt188", m.Protocol)
	}
	if m.Address == "" {
		return errors.New("address: empty")
	}
	if _, err := m.resolve(); err != nil {
		return err
	}
	if m.Sensor == "" || len(m.Sensor) > 64 {
		return fmt.Errorf("sensor: %q, want 1 to 64 bytes", m.Sensor)
	}
	if m.Interval < 0 {
		return fmt.Errorf("interval: %v is negative", m.Interval)
	}
	if m.Rollover < 0 {
		return fmt.Errorf("rollover: %v is negative", m.Rollover)
	}
	if m.MaxPerHour < 0 {
		return fmt.Errorf("max_per_hour: %v is negative", m.MaxPerHour)
	}
	return nil
}

// canonicalAddress pads the address so "12345678" and "000012345678" compare equal.
func (m MeterConfig) canonicalAddress() string {
	r, err := m.resolve()
	if err != nil {
		return m.Address
	}
	return r.addrString()
}

// meterID is a meter's resolved wire parameters.
type meterID struct {
	protocol string
	dlAddr   dlt645.Address
	dlDI     dlt645.DI
	cjAddr   cjt188.Address
	cjType   cjt188.MeterType
	cjOrder  cjt188.DIOrder
}

func (id meterID) addrString() string {
	if id.protocol == DLT645 {
		return id.dlAddr.String()
	}
	return id.cjAddr.String()
}

func (m MeterConfig) resolve() (meterID, error) {
	id := meterID{protocol: m.Protocol}
	switch m.Protocol {
	case DLT645:
		a, err := parseDigits(m.Address, 12)
		if err != nil {
			return id, fmt.Errorf("address: %w", err)
		}
		if id.dlAddr, err = dlt645.ParseAddress(a); err != nil {
			return id, fmt.Errorf("address: %w", err)
		}
		if id.dlAddr == dlt645.Wildcard || id.dlAddr == dlt645.Broadcast {
			return id, fmt.Errorf("address: %s is the wildcard/broadcast address, not a meter", m.Address)
		}
		if id.dlDI, err = dlt645.ParseDI(m.DI); err != nil {
			return id, fmt.Errorf("di: %w", err)
		}
		if m.DIOrder != "" || m.MeterType != "" {
			return id, errors.New("di_order: di_order and meter_type are CJ/T 188 settings, not DL/T 645")
		}
	case CJT188:
		a, err := parseDigits(m.Address, 14)
		if err != nil {
			return id, fmt.Errorf("address: %w", err)
		}
		if id.cjAddr, err = cjt188.ParseAddress(a); err != nil {
			return id, fmt.Errorf("address: %w", err)
		}
		switch strings.ToLower(m.DIOrder) {
		case "high_first", "":
			id.cjOrder = cjt188.DIHighFirst
		case "low_first":
			id.cjOrder = cjt188.DILowFirst
		default:
			return id, fmt.Errorf("di_order: %q, want high_first (90 1F) or low_first (1F 90)", m.DIOrder)
		}
		t, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(m.MeterType), "0x"), 16, 8)
		if err != nil {
			return id, fmt.Errorf("meter_type: %q, want a hex type byte such as 10 (cold water)", m.MeterType)
		}
		id.cjType = cjt188.MeterType(t)
		if m.DI != "" && !strings.EqualFold(m.DI, cjt188.DIMeterData.String()) {
			return id, fmt.Errorf("di: %q; CJ/T 188 meters are read with 901F", m.DI)
		}
	}
	return id, nil
}

// parseDigits accepts nameplate digits with optional spaces or dashes, as
// printed on labels, and checks them before the codecs pad them.
func parseDigits(s string, max int) (string, error) {
	d := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if d == "" {
		return "", errors.New("empty")
	}
	if len(d) > max {
		return "", fmt.Errorf("%q has %d digits, at most %d", s, len(d), max)
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("%q: %q is not a decimal digit", s, c)
		}
	}
	return d, nil
}

func validProtocol(p string) bool {
	p = strings.ToLower(p)
	return p == DLT645 || p == CJT188
}

func validBaud(b int) bool {
	switch b {
	case 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200:
		return true
	}
	return false
}
