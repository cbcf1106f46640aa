package provision

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/shouwang-care/shouwang/edge/config"
)

// configPlan is what a claim will do to the config, worked out before the code
// is spent.
type configPlan struct {
	gatewayID  string
	generated  bool
	secretPath string
	keys       []string // keys set, as spelled in the file
	out        []byte   // the new file; the old bytes when nothing changes
}

func (p configPlan) changed() bool { return len(p.keys) > 0 }

// summary says what the config must hold, for an installer finishing by hand.
func (p configPlan) summary() string {
	return fmt.Sprintf("gateway_id: %s, mqtt.username: %s, mqtt.password_file: %s, no mqtt.password", p.gatewayID, p.gatewayID, p.secretPath)
}

// planConfig works out the gateway ID and the secret's path from the config
// src and returns the config that makes the daemon log in with them:
// gateway_id and mqtt.username the ID, mqtt.password_file the secret, no inline
// mqtt.password. The edit goes through the YAML node tree, as `scan
// --write-config` does, so comments stay; a config that needs no change is
// kept byte for byte. The result must pass the daemon's own strict validation,
// or the claim does not start.
func planConfig(src []byte, wantID, defaultSecret string) (configPlan, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return configPlan{}, err
	}
	if doc.Kind == 0 { // an empty file
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return configPlan{}, errors.New("not a YAML mapping of settings")
	}
	root := doc.Content[0]
	mqtt, err := mapping(root, "mqtt")
	if err != nil {
		return configPlan{}, err
	}
	if v := scalar(mqtt, "cert_file"); v != "" {
		return configPlan{}, fmt.Errorf("mqtt.cert_file is set (%s): this gateway logs in with a certificate, which a claim does not issue; remove cert_file and key_file to use a claimed password instead", v)
	}

	p := configPlan{gatewayID: wantID, secretPath: scalar(mqtt, "password_file")}
	if p.gatewayID == "" {
		p.gatewayID = scalar(root, "gateway_id")
	}
	if p.gatewayID == "" {
		p.gatewayID, p.generated = newGatewayID(), true
	}
	if err := validID(p.gatewayID); err != nil {
		return configPlan{}, err
	}
	if p.secretPath == "" {
		p.secretPath = defaultSecret
	}
	if !filepath.IsAbs(p.secretPath) {
		// The daemon runs from / under systemd: a relative path would not be the
		// file written here.
		return configPlan{}, fmt.Errorf("mqtt.password_file %q: want an absolute path", p.secretPath)
	}

	set := func(m *yaml.Node, prefix, key, value string) {
		if setScalar(m, key, value) {
			p.keys = append(p.keys, prefix+key)
		}
	}
	set(root, "", "gateway_id", p.gatewayID)
	set(mqtt, "mqtt.", "username", p.gatewayID)
	set(mqtt, "mqtt.", "password_file", p.secretPath)
	if remove(mqtt, "password") {
		p.keys = append(p.keys, "mqtt.password (removed)")
	}
	p.out = src
	if p.changed() {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return configPlan{}, err
		}
		if err := enc.Close(); err != nil {
			return configPlan{}, err
		}
		p.out = b.Bytes()
	}

	cfg, err := config.Parse(p.out)
	if err != nil {
		return configPlan{}, fmt.Errorf("with the claim's settings the daemon would refuse it, fix this first: %w", err)
	}
	if cfg.GatewayID != p.gatewayID || cfg.MQTT.Username != p.gatewayID || cfg.MQTT.PasswordFile != p.secretPath || cfg.MQTT.Password != "" {
		// Cannot happen unless the YAML has tricks (anchors, merge keys) that the
		// edit above does not see through; better to stop than to write it.
		return configPlan{}, fmt.Errorf("could not set %s; edit the file by hand", p.summary())
	}
	return p, nil
}

// lookup returns the value node of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalar is key's value in m when it is a non-null scalar, else "".
func scalar(m *yaml.Node, key string) string {
	v := lookup(m, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return ""
	}
	return strings.TrimSpace(v.Value)
}

// mapping returns key's mapping in m, adding an empty one when key is absent
// or null.
func mapping(m *yaml.Node, key string) (*yaml.Node, error) {
	v := lookup(m, key)
	switch {
	case v == nil:
		v = &yaml.Node{Kind: yaml.MappingNode}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		*v = yaml.Node{Kind: yaml.MappingNode, HeadComment: v.HeadComment, LineComment: v.LineComment}
	case v.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s is not a mapping of settings", key)
	}
	v.Style &^= yaml.FlowStyle // one key a line, as the example config has it
	return v, nil
}

// setScalar sets key in m to the string value and reports whether that changed
// anything. A value's comment stays with it.
func setScalar(m *yaml.Node, key, value string) bool {
	v := lookup(m, key)
	if v == nil {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
		return true
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == value {
		return false
	}
	*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, HeadComment: v.HeadComment, LineComment: v.LineComment, FootComment: v.FootComment}
	return true
}

// remove deletes key from m and reports whether it was there.
func remove(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}
