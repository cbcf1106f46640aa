package provision

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/shouwang-care/shouwang/edge/config"
)

// FuzzParseReply: whatever the cloud (or a proxy in front of it) answers, the
// parse does not panic, grants only a well-formed secret for the gateway that
// asked, prints nothing that moves the cursor, and no error repeats a secret
// from a 200 answer. Corpus: testdata/fuzz/FuzzParseReply.
func FuzzParseReply(f *testing.F) {
	f.Add(200, []byte(`{"gateway_id":"gw-a1","home_id":"h-1","home_address":"3-2-301","mqtt_username":"gw-a1","mqtt_password":"`+secret+`"}`))
	f.Add(410, []byte(`{"error":{"code":"claim_code_spent","message":"this claim code expired (codes last 24 hours); ask for a new one","field":"code"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := parseReply(status, body, "gw-a1")
		if err != nil {
			var grant reply
			if status == 200 && json.Unmarshal(body, &grant) == nil && len(grant.MQTTPassword) >= 8 && strings.Contains(err.Error(), grant.MQTTPassword) {
				t.Fatalf("error repeats the secret: %v", err)
			}
			return
		}
		if status != 200 || r.GatewayID != "gw-a1" || r.MQTTUsername != "gw-a1" || r.HomeID == "" || !wellFormedSecret(r.MQTTPassword) {
			t.Fatalf("granted %+v for status %d", r, status)
		}
		for _, c := range r.HomeID + r.HomeAddress {
			if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
				t.Fatalf("control character %U in %+v", c, r)
			}
		}
	})
}

// FuzzPlanConfig: whatever the config file holds, planning the claim's edit
// does not panic, and a plan it accepts is a config the daemon accepts with the
// claim's settings; an unchanged plan keeps the file's bytes. Corpus:
// testdata/fuzz/FuzzPlanConfig.
func FuzzPlanConfig(f *testing.F) {
	f.Add([]byte("gateway_id: gw-a1 # label\nmqtt:\n  broker: tcp://127.0.0.1:1883\n  password: x\n"), "")
	f.Add([]byte(""), "gw-b2")
	f.Fuzz(func(t *testing.T, src []byte, id string) {
		p, err := planConfig(src, id, "/etc/shouwang/edge.secret")
		if err != nil {
			return
		}
		if id != "" && p.gatewayID != id {
			t.Fatalf("gateway ID %q, asked for %q", p.gatewayID, id)
		}
		cfg, err := config.Parse(p.out)
		if err != nil || cfg.GatewayID != p.gatewayID || cfg.MQTT.Username != p.gatewayID || cfg.MQTT.PasswordFile != p.secretPath || cfg.MQTT.Password != "" {
			t.Fatalf("accepted a plan the daemon reads as %+v (%v):\n%s", cfg.MQTT, err, p.out)
		}
		if !p.changed() && !bytes.Equal(p.out, src) {
			t.Fatal("unchanged plan rewrote the file")
		}
	})
}
