// Package radio is the gateway side of the sensor-node radio link
// (firmware-protocol/docs/sensornode.md): it reads frames from the UART radio
// module, ACKs the home's own nodes, turns their frames into events for the
// rules, and watches the nodes for missed check-ins and flat batteries.
package radio

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shouwang-care/shouwang/firmware-protocol/event"
	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

// Defaults, and the range the spec allows for a node's check-in period (§8).
const (
	DefaultBaud    = 9600
	DefaultCheckIn = sensornode.MaxCheckIn
	MinCheckIn     = 5 * time.Minute
)

// bauds are the rates the common transparent modules (HC-12, E32, E220) can
// be set to on their UART side; anything else is a typo.
var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

// NodeConfig enrols one sensor node.
type NodeConfig struct {
	ID      string        `yaml:"id"`       // 8 hex digits as printed on the node's label
	Sensor  string        `yaml:"sensor"`   // event sensor name: pir.bathroom, door.front, button.bed, pendant
	CheckIn time.Duration `yaml:"check_in"` // the node's provisioned check-in period; 0 = 24h
}

// Config is the radio section of the edge configuration.
type Config struct {
	Port       string       `yaml:"port"`        // e.g. /dev/serial/by-id/usb-…; stable names survive replugging
	Baud       int          `yaml:"baud"`        // UART rate of the radio module; 0 = 9600
	LowBattery int          `yaml:"low_battery"` // percent at or below which a node needs a new battery; 0 = 20
	Nodes      []NodeConfig `yaml:"nodes"`
}

// Validate reports the first problem, named by its place in the file
// (radio.nodes[2].id: …), so an installer can find it.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Port) == "" {
		return errors.New("radio.port: empty (the serial device of the radio module)")
	}
	if c.Baud != 0 && !slices.Contains(bauds, c.Baud) {
		return fmt.Errorf("radio.baud: %d is not a UART rate the radio modules use (%v)", c.Baud, bauds)
	}
	if c.LowBattery < 0 || c.LowBattery > 100 {
		return fmt.Errorf("radio.low_battery: %d%% outside 0..100", c.LowBattery)
	}
	if len(c.Nodes) == 0 {
		return errors.New("radio.nodes: none enrolled (list the nodes of this home, or remove the radio section)")
	}
	ids := make(map[sensornode.NodeID]int)
	sensors := make(map[string]int)
	for i, n := range c.Nodes {
		at := fmt.Sprintf("radio.nodes[%d]", i)
		id, err := ParseNodeID(n.ID)
		if err != nil {
			return fmt.Errorf("%s.id: %w", at, err)
		}
		if j, dup := ids[id]; dup {
			return fmt.Errorf("%s.id: %s already enrolled as radio.nodes[%d]", at, id, j)
		}
		ids[id] = i
		if err := checkSensor(n.Sensor); err != nil {
			return fmt.Errorf("%s.sensor: %w", at, err)
		}
		// Faults are tracked per sensor name by the rules: two nodes under one
		// name would let one node's recovery clear the other's fault.
		if j, dup := sensors[n.Sensor]; dup {
			return fmt.Errorf("%s.sensor: %q already used by radio.nodes[%d]", at, n.Sensor, j)
		}
		sensors[n.Sensor] = i
		if n.CheckIn != 0 && (n.CheckIn < MinCheckIn || n.CheckIn > DefaultCheckIn) {
			return fmt.Errorf("%s.check_in: %v outside %v..%v (must equal the node's provisioned period)",
				at, n.CheckIn, MinCheckIn, DefaultCheckIn)
		}
	}
	return nil
}

// ParseNodeID parses the 8 hex digits printed on a node's label.
func ParseNodeID(s string) (sensornode.NodeID, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("%q: want 8 hex digits as printed on the node, e.g. 0A0B0C0D", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: want 8 hex digits as printed on the node, e.g. 0A0B0C0D", s)
	}
	if v == 0 || v == 0xFFFFFFFF {
		return 0, fmt.Errorf("%q is never assigned to a node", s)
	}
	return sensornode.NodeID(v), nil
}

func checkSensor(s string) error {
	if s == "" {
		return errors.New("empty (e.g. pir.bathroom, door.front, button.bed, pendant)")
	}
	// Room for the maintenance prefix within event's 64-byte sensor limit.
	if max := 64 - len(MaintenancePrefix); len(s) > max {
		return fmt.Errorf("%d bytes, at most %d", len(s), max)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%q contains spaces or control characters", s)
	}
	if s == PortSensor {
		return fmt.Errorf("%q is reserved for faults of the radio port itself", s)
	}
	return (event.Event{T: time.Unix(1, 0), Sensor: s, Kind: event.Motion}).Validate()
}
