// Package mqttv1 is version 1 of the MQTT contract between a Shouwang gateway (edge)
// and the cloud: the topic tree, the payloads, their limits and validation. Both sides
// import it, so the contract is written once. The prose spec is
// firmware-protocol/docs/mqtt-v1.md; golden payloads live in testdata/.
package mqttv1

import (
	"fmt"
	"strings"
)

// Prefix roots every v1 topic. A v2 contract gets its own prefix, so old gateways and
// new clouds can run side by side during an upgrade.
const Prefix = "shouwang/v1/gw/"

// Channel names the last topic level.
type Channel string

const (
	ChTelemetry Channel = "telemetry" // edge→cloud, QoS 1
	ChAlert     Channel = "alert"     // edge→cloud, QoS 1
	ChStatus    Channel = "status"    // edge→cloud, QoS 1, retained; birth and last will
	ChHeartbeat Channel = "heartbeat" // edge→cloud, QoS 0
	ChConfig    Channel = "config"    // cloud→edge, QoS 1, retained
	ChAck       Channel = "ack"       // cloud→edge, QoS 1
)

// Spec holds the per-channel delivery rules.
type Spec struct {
	QoS      byte
	Retained bool
	MaxBytes int
	Upstream bool // sent by the gateway
}

// Specs is the table in the written spec; tests check the two agree.
var Specs = map[Channel]Spec{
	ChTelemetry: {QoS: 1, MaxBytes: 256 << 10, Upstream: true},
	ChAlert:     {QoS: 1, MaxBytes: 16 << 10, Upstream: true},
	ChStatus:    {QoS: 1, Retained: true, MaxBytes: 1 << 10, Upstream: true},
	ChHeartbeat: {QoS: 0, MaxBytes: 1 << 10, Upstream: true},
	ChConfig:    {QoS: 1, Retained: true, MaxBytes: 64 << 10},
	ChAck:       {QoS: 1, MaxBytes: 16 << 10},
}

// ValidGatewayID reports whether id may appear in a topic: lower-case letters, digits
// and dashes, 3–63 long, so it never holds an MQTT wildcard or separator.
// (A loop rather than a regexp: the cloud checks every message's ID twice, and
// the regexp was 3 % of ingest CPU.)
func ValidGatewayID(id string) error {
	ok := len(id) >= 3 && len(id) <= 63 && id[0] != '-'
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("gateway id %q: want 3-63 of a-z 0-9 '-', starting with a letter or digit", id)
	}
	return nil
}

// Topic returns the topic of channel ch for gateway gw.
func Topic(gw string, ch Channel) string { return Prefix + gw + "/" + string(ch) }

// Filter returns a subscription filter for ch across all gateways.
func Filter(ch Channel) string { return Prefix + "+/" + string(ch) }

// SharedFilter returns a shared-subscription filter, so N cloud replicas split the load.
func SharedFilter(group string, ch Channel) string { return "$share/" + group + "/" + Filter(ch) }

// ParseTopic splits a v1 topic into gateway ID and channel.
func ParseTopic(topic string) (gw string, ch Channel, err error) {
	rest, ok := strings.CutPrefix(topic, Prefix)
	if !ok {
		return "", "", fmt.Errorf("topic %q: not under %s", topic, Prefix)
	}
	gw, c, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(c, "/") {
		return "", "", fmt.Errorf("topic %q: want %s<gateway>/<channel>", topic, Prefix)
	}
	if err := ValidGatewayID(gw); err != nil {
		return "", "", fmt.Errorf("topic %q: %w", topic, err)
	}
	if _, known := Specs[Channel(c)]; !known {
		return "", "", fmt.Errorf("topic %q: unknown channel %q", topic, c)
	}
	return gw, Channel(c), nil
}
