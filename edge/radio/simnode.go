package radio

import (
	"fmt"
	"io"
	"sync"

	"github.com/shouwang-care/shouwang/firmware-protocol/sensornode"
)

// SimNodes plays battery sensor nodes on the far end of a serial line, speaking the
// real sensor-node protocol, so `shouwang-edge --simulate` exercises the radio path
// (decoder, supervision, ACKs) like a home with a bathroom PIR.
type SimNodes struct {
	mu  sync.Mutex
	w   io.Writer
	ids map[string]sensornode.NodeID
	seq map[sensornode.NodeID]uint16
}

// NewSimNodes speaks for nodes (sensor name → node) on w.
func NewSimNodes(w io.Writer, nodes []NodeConfig) (*SimNodes, error) {
	s := &SimNodes{w: w, ids: map[string]sensornode.NodeID{}, seq: map[sensornode.NodeID]uint16{}}
	for _, n := range nodes {
		id, err := ParseNodeID(n.ID)
		if err != nil {
			return nil, err
		}
		s.ids[n.Sensor] = id
	}
	return s, nil
}

// Has reports whether sensor is one of the simulated nodes.
func (s *SimNodes) Has(sensor string) bool {
	_, ok := s.ids[sensor]
	return ok
}

// Send transmits one event frame from the node named sensor (90 % battery).
func (s *SimNodes) Send(sensor string, ev sensornode.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[sensor]
	if !ok {
		return fmt.Errorf("simulated radio: no node for sensor %q", sensor)
	}
	seq := s.seq[id]
	s.seq[id] = seq + 1
	var flags sensornode.Flags
	if seq == 0 {
		flags = sensornode.FlagBoot
	}
	if _, err := s.w.Write(sensornode.AppendEvent(nil, id, seq, ev, 90, flags)); err != nil {
		return fmt.Errorf("simulated radio node %s: %w", id, err)
	}
	return nil
}

// CheckInAll sends a supervision check-in from every node.
func (s *SimNodes) CheckInAll() error {
	for sensor := range s.ids {
		if err := s.Send(sensor, sensornode.EventCheckIn); err != nil {
			return err
		}
	}
	return nil
}
