package meterbus

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/firmware-protocol/cjt188"
	"github.com/shouwang-care/shouwang/firmware-protocol/dlt645"
)

// Address is a meter found by Scan, with what a MeterConfig needs to poll it.
type Address struct {
	Protocol string
	Address  string // nameplate digits
	// CJ/T 188 only: the type byte and DI order the meter answered with.
	MeterType cjt188.MeterType
	DIOrder   cjt188.DIOrder
}

func (a Address) String() string {
	if a.Protocol == CJT188 {
		return fmt.Sprintf("%s %s type %02X (%v) di_order %s", a.Protocol, a.Address, byte(a.MeterType), a.MeterType, diOrderName(a.DIOrder))
	}
	return a.Protocol + " " + a.Address
}

// MeterConfig returns the configuration entry for the found meter.
func (a Address) MeterConfig() MeterConfig {
	m := MeterConfig{Protocol: a.Protocol, Address: a.Address}
	if a.Protocol == CJT188 {
		m.DIOrder = diOrderName(a.DIOrder)
		m.MeterType = fmt.Sprintf("%02X", byte(a.MeterType))
	}
	return m
}

func diOrderName(o cjt188.DIOrder) string {
	if o == cjt188.DILowFirst {
		return "low_first"
	}
	return "high_first"
}

// Scan timing: meters answer a read-address within a few hundred ms at 2400
// baud; after a reply, listen a little longer to notice a second meter.
var (
	scanTimeout = 2 * time.Second
	scanQuiet   = 300 * time.Millisecond
)

// ErrCollision means replies to the wildcard request were garbled, which is
// what several meters answering at once looks like.
var ErrCollision = errors.New("garbled replies to the wildcard address: more than one meter on the bus? connect meters one at a time to scan")

// Scan discovers the address of the meter on port by sending the protocol's
// read-address request to the wildcard address (DL/T 645 control 13 to
// AA…AA; CJ/T 188 control 03 DI 810A to AA…AA, trying both DI byte orders).
//
// Warning: every meter answers the wildcard at once, so discovery only works
// with ONE meter connected. With several, replies collide and Scan returns
// ErrCollision (or, if one meter happened to win, an incomplete list).
func Scan(ctx context.Context, port Port, protocol string) ([]Address, error) {
	protocol = strings.ToLower(protocol)
	var requests [][]byte
	switch protocol {
	case DLT645:
		requests = [][]byte{
			dlt645.AppendReadAddressRequest(dlt645.AppendWakeUp(nil, DefaultWakeUp)),
		}
	case CJT188:
		for _, o := range []cjt188.DIOrder{cjt188.DIHighFirst, cjt188.DILowFirst} {
			requests = append(requests, cjt188.AppendReadAddressRequest(cjt188.AppendWakeUp(nil, DefaultWakeUp), cjt188.TypeWildcard, 0, o))
		}
	default:
		return nil, fmt.Errorf("scan: protocol %q, want dlt645 or cjt188", protocol)
	}
	rd := newFrameReader(port, protocol)
	var garbled bool
	for _, req := range requests {
		found, g, err := scanOnce(ctx, port, rd, protocol, req)
		if err != nil {
			return nil, err
		}
		garbled = garbled || g
		if len(found) > 0 {
			if g {
				return found, fmt.Errorf("scan: found %d meter(s) but %w", len(found), ErrCollision)
			}
			return found, nil
		}
		if err := sleepCtx(ctx, DefaultInterFrameGap); err != nil {
			return nil, err
		}
	}
	if garbled {
		return nil, fmt.Errorf("scan: %w", ErrCollision)
	}
	return nil, nil
}

func scanOnce(ctx context.Context, port Port, rd *frameReader, protocol string, req []byte) ([]Address, bool, error) {
	if err := port.Flush(); err != nil {
		return nil, false, fmt.Errorf("scan: flush: %w", err)
	}
	if _, err := port.Write(req); err != nil {
		return nil, false, fmt.Errorf("scan: write read-address request: %w", err)
	}
	rd.reset()
	var (
		found   []Address
		garbled bool
		seen    = map[string]bool{}
	)
	deadline := time.Now().Add(scanTimeout)
	for {
		frame, err := rd.next(ctx, deadline)
		switch {
		case errors.Is(err, errNoAnswer):
			return found, garbled || rd.garbled, nil
		case errors.Is(err, errGarbled):
			garbled = true
			rd.reset()
			continue
		case err != nil:
			return nil, false, fmt.Errorf("scan: %w", err)
		}
		a, ok := addressReply(protocol, frame)
		if !ok || seen[a.Address] {
			continue
		}
		seen[a.Address] = true
		found = append(found, a)
		deadline = time.Now().Add(scanQuiet)
	}
}

func addressReply(protocol string, frame []byte) (Address, bool) {
	switch protocol {
	case DLT645:
		var f dlt645.Frame
		var r dlt645.Reading
		if _, err := dlt645.Decode(frame, &f); err != nil || !f.IsReply() || f.IsAbnormal() ||
			f.Function() != dlt645.CtrlReadAddress || dlt645.ParseReading(&f, &r) != nil || r.Kind != dlt645.KindAddress {
			return Address{}, false
		}
		return Address{Protocol: DLT645, Address: r.Address.String()}, true
	case CJT188:
		var f cjt188.Frame
		var r cjt188.Reading
		if _, err := cjt188.Decode(frame, &f); err != nil || !f.IsReply() || f.IsAbnormal() ||
			f.Function() != cjt188.CtrlReadAddress || cjt188.ParseReading(&f, &r) != nil {
			return Address{}, false
		}
		return Address{Protocol: CJT188, Address: f.Address.String(), MeterType: f.Type, DIOrder: r.DIOrder}, true
	}
	return Address{}, false
}

// ScanCommand implements
//
//	shouwang-edge scan --port /dev/serial/by-id/… --protocol dlt645|cjt188 [--baud 2400] [--write-config FILE]
//
// args excludes the "scan" word. It prints one found meter per line and, with
// --write-config, adds them to the bus of that port in FILE's "buses:" list
// (creating the file or the bus as needed, keeping comments).
func ScanCommand(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stdout)
	port := fs.String("port", "", "serial port, preferably /dev/serial/by-id/… (required)")
	protocol := fs.String("protocol", "", "dlt645 (electricity) or cjt188 (water) (required)")
	baud := fs.Int("baud", DefaultBaud, "baud rate (8E1)")
	writeConfig := fs.String("write-config", "", "append found meters to this YAML file's buses list")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shouwang-edge scan --port PATH --protocol dlt645|cjt188 [--baud 2400] [--write-config FILE]")
		fmt.Fprintln(fs.Output(), "Finds the address of the ONE meter connected to the port (wildcard discovery cannot tell meters apart).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("scan: unexpected argument %q", fs.Arg(0))
	}
	if *port == "" {
		return errors.New("scan: --port is required")
	}
	if !validProtocol(*protocol) {
		return fmt.Errorf("scan: --protocol %q, want dlt645 or cjt188", *protocol)
	}
	if !validBaud(*baud) {
		return fmt.Errorf("scan: --baud %d is not a standard rate", *baud)
	}
	proto := strings.ToLower(*protocol)
	if c := SerialConsole(consoleRoot, *port); c != "" {
		return fmt.Errorf("scan: %s uses %s: the meter bus would carry boot messages and a login prompt; disable it first (install guide, step 2)", *port, c)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := OpenSerial(PortConfig{Path: *port, Baud: *baud})
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	found, scanErr := Scan(ctx, p, proto)
	p.Close()
	for _, a := range found {
		fmt.Fprintln(stdout, a.String())
	}
	if scanErr != nil {
		return scanErr
	}
	if len(found) == 0 {
		fmt.Fprintf(stdout, "no %s meter answered on %s at %d baud (check wiring A/B, baud, and that the meter is powered)\n", proto, *port, *baud)
		return nil
	}
	if *writeConfig != "" {
		added, err := AppendMeters(*writeConfig, BusConfig{Port: *port, Baud: *baud, Protocol: proto}, found)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		fmt.Fprintf(stdout, "added %d meter(s) to %s\n", added, *writeConfig)
	}
	return nil
}

// AppendMeters adds found meters to the bus with bus.Port in the YAML file's
// top-level "buses" list, creating the file, the list or the bus as needed.
// Meters already listed (same protocol and address) are skipped. Comments and
// the order of everything else are kept. It returns how many were added.
func AppendMeters(path string, bus BusConfig, found []Address) (int, error) {
	var doc yaml.Node
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", path, err)
	case len(bytes.TrimSpace(data)) > 0:
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return 0, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return 0, fmt.Errorf("%s: top level is not a mapping", path)
	}
	buses := mapValue(root, "buses")
	if buses == nil {
		buses = &yaml.Node{Kind: yaml.SequenceNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "buses"}, buses)
	}
	if buses.Kind != yaml.SequenceNode {
		return 0, fmt.Errorf("%s: buses is not a list", path)
	}
	var busNode *yaml.Node
	for _, b := range buses.Content {
		if p := mapValue(b, "port"); p != nil && p.Value == bus.Port {
			busNode = b
			break
		}
	}
	if busNode == nil {
		busNode = new(yaml.Node)
		if err := busNode.Encode(BusConfig{Port: bus.Port, Baud: bus.Baud, Protocol: bus.Protocol}); err != nil {
			return 0, err
		}
		buses.Content = append(buses.Content, busNode)
	}
	meters := mapValue(busNode, "meters")
	if meters == nil || meters.Kind != yaml.SequenceNode {
		if meters != nil && !(meters.Kind == yaml.ScalarNode && meters.Tag == "!!null") {
			return 0, fmt.Errorf("%s: meters of bus %s is not a list", path, bus.Port)
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		if meters == nil {
			busNode.Content = append(busNode.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "meters"}, seq)
		} else {
			*meters = *seq
		}
		meters = mapValue(busNode, "meters")
	}
	meters.Style = 0 // block style, one meter per entry, whatever Encode chose for an empty list
	var existing []MeterConfig
	if err := meters.Decode(&existing); err != nil {
		return 0, fmt.Errorf("%s: meters of bus %s: %w", path, bus.Port, err)
	}
	added := 0
	for _, a := range found {
		dup := false
		for _, m := range existing {
			p := m.Protocol
			if p == "" {
				if v := mapValue(busNode, "protocol"); v != nil {
					p = v.Value
				}
			}
			if strings.EqualFold(p, a.Protocol) && sameAddress(m.Address, a.Address) {
				dup = true
			}
		}
		if dup {
			continue
		}
		var n yaml.Node
		if err := n.Encode(a.MeterConfig()); err != nil {
			return 0, err
		}
		meters.Content = append(meters.Content, &n)
		added++
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return 0, fmt.Errorf("encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return 0, err
	}
	// Write beside and rename, so an interrupted scan cannot truncate a config.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("replace %s: %w", path, err)
	}
	return added, nil
}

func sameAddress(a, b string) bool {
	return strings.TrimLeft(a, "0") == strings.TrimLeft(b, "0")
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
