package deploy

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/emqx"
)

// loadCloudConfig validates a cloud config the way shouwang-cloud does.
func loadCloudConfig(t *testing.T, name string, text []byte) cloudconfig.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(p, text, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := cloudconfig.Load(p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9A-Za-z.-]*$`)

// checkReplicas: distinct client IDs, one group, an external broker.
func checkReplicas(t *testing.T, where string, cfgs map[string]cloudconfig.Config) {
	t.Helper()
	if len(cfgs) < 2 {
		t.Errorf("%s: %d cloud replicas, want >= 2", where, len(cfgs))
	}
	ids := map[string]string{}
	groups := map[string]bool{}
	for name, c := range cfgs {
		if other, dup := ids[c.MQTT.ClientID]; dup {
			t.Errorf("%s: %s and %s share mqtt.client_id %q", where, name, other, c.MQTT.ClientID)
		}
		ids[c.MQTT.ClientID] = name
		groups[c.MQTT.Group] = true
		if c.MQTT.Broker == "" || !strings.HasPrefix(c.Database, "postgres://") || c.Influx.URL == "" {
			t.Errorf("%s: %s must use the external broker, PostgreSQL and InfluxDB: %+v", where, name, c)
		}
		if c.MQTT.EMQX == nil {
			t.Errorf("%s: %s has no mqtt.emqx: claims and revocations would not reach the cluster", where, name)
		}
	}
	if len(groups) != 1 {
		t.Errorf("%s: replicas in %d shared-subscription groups %v, want one", where, len(groups), groups)
	}
}

func TestComposeReference(t *testing.T) {
	b, err := os.ReadFile("scale/docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string   `yaml:"image"`
			Command     []string `yaml:"command"`
			Volumes     []string `yaml:"volumes"`
			User        string   `yaml:"user"`
			ReadOnly    bool     `yaml:"read_only"`
			Environment map[string]string
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]cloudconfig.Config{}
	emqx := 0
	for name, s := range doc.Services {
		if !pinnedImage.MatchString(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		switch {
		case strings.HasPrefix(name, "cloud-"):
			if s.User == "" || strings.HasPrefix(s.User, "0") || !s.ReadOnly {
				t.Errorf("%s: want a non-root user and a read-only root filesystem", name)
			}
			var src string
			for _, v := range s.Volumes {
				if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == "/etc/shouwang/cloud.yaml" {
					src = parts[0]
				}
			}
			if src == "" {
				t.Fatalf("%s: no config mounted at /etc/shouwang/cloud.yaml", name)
			}
			text, err := os.ReadFile(filepath.Join("scale", src))
			if err != nil {
				t.Fatal(err)
			}
			cfgs[name] = loadCloudConfig(t, src, text)
		case strings.HasPrefix(name, "emqx"):
			emqx++
			if !strings.HasPrefix(s.Image, "emqx/emqx:5.8.") {
				t.Errorf("%s: %s; the reference uses EMQX 5.8 (last Apache-2.0 line)", name, s.Image)
			}
		}
	}
	checkReplicas(t, "docker-compose", cfgs)
	if emqx < 3 {
		t.Errorf("%d EMQX nodes, want a cluster of >= 3", emqx)
	}
	for _, want := range []string{"postgres", "postgres-standby", "influxdb"} {
		if _, ok := doc.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	for name, c := range cfgs {
		host := strings.TrimPrefix(strings.Split(c.MQTT.Broker, ":")[1], "//")
		if _, ok := doc.Services[host]; !ok {
			t.Errorf("%s: broker host %q is not a service", name, host)
		}
		if c.MQTT.EMQX == nil {
			continue // checkReplicas reports it
		}
		if u, _ := url.Parse(c.MQTT.EMQX.API); u == nil || doc.Services[u.Hostname()].Image == "" {
			t.Errorf("%s: mqtt.emqx.api %q is not a service", name, c.MQTT.EMQX.API)
		}
		for _, f := range []string{c.MQTT.EMQX.AuthnTokenFile, c.MQTT.EMQX.APISecretFile, c.MQTT.PasswordFile} {
			if _, ok := doc.Secrets[strings.TrimPrefix(f, "/run/secrets/")]; !ok {
				t.Errorf("%s: %s is not a declared secret", name, f)
			}
		}
	}
	for name, s := range doc.Services {
		if strings.HasPrefix(name, "emqx") && !slices.Contains(s.Volumes, "./emqx/emqx.conf:/opt/emqx/etc/emqx.conf:ro") {
			t.Errorf("%s: emqx.conf not mounted: %v", name, s.Volumes)
		}
	}
	if _, err := os.Stat("scale/emqx/acl.conf"); err != nil {
		t.Error(err)
	}
}

// emqx.conf's HTTP authenticator sends what the cloud reads: the endpoint's path,
// a bearer token, and a body whose keys are emqx.Request's, each filled from the
// EMQX placeholder of the same name. Its ACL source is the acl.conf shipped here.
func TestEMQXConfig(t *testing.T) {
	b, err := os.ReadFile("scale/emqx/emqx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{
		`backend = http`, `method = post`, `url = "http://shouwang-cloud:8080/mqtt/emqx/authn"`,
		`authorization = "Bearer `, `"content-type" = "application/json"`,
		`backend = built_in_database`, `no_match = deny`, `path = "etc/acl.conf"`,
		`bootstrap_file = "etc/shouwang_api_key.conf"`,
		`data_dir = "data"`, // the file replaces the image's: without it the node's data leaves its volume
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("emqx.conf lacks %s", want)
		}
	}
	if strings.Index(conf, "backend = http") > strings.Index(conf, "backend = built_in_database") {
		t.Error("the cloud must be asked first: the built-in database holds only the cloud's login")
	}
	body := regexp.MustCompile(`(?s)body \{\n(.*?)\n\s*\}\n`).FindStringSubmatch(conf)
	if body == nil {
		t.Fatal("emqx.conf: no body { } in the HTTP authenticator")
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+) = "\$\{(\w+)\}"`).FindAllStringSubmatch(body[1], -1) {
		got[m[1]] = m[2]
	}
	rt := reflect.TypeOf(emqx.Request{})
	if len(got) != rt.NumField() {
		t.Errorf("body sends %v, the cloud reads %d fields", got, rt.NumField())
	}
	for i := 0; i < rt.NumField(); i++ {
		key := rt.Field(i).Tag.Get("json")
		if got[key] != key {
			t.Errorf("body: %s = ${%s}, want ${%s}", key, got[key], key)
		}
	}
}

type k8sDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas    *int   `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Name      string   `yaml:"name"`
					Image     string   `yaml:"image"`
					Args      []string `yaml:"args"`
					Resources struct {
						Limits map[string]string `yaml:"limits"`
					} `yaml:"resources"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesReference(t *testing.T) {
	b, err := os.ReadFile("scale/k8s/shouwang.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	byKind := map[string]map[string]k8sDoc{}
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
			t.Fatalf("document without apiVersion/kind/metadata.name: %+v", d)
		}
		if d.Kind != "Namespace" && d.Metadata.Namespace != "shouwang" {
			t.Errorf("%s/%s: namespace %q", d.Kind, d.Metadata.Name, d.Metadata.Namespace)
		}
		if byKind[d.Kind] == nil {
			byKind[d.Kind] = map[string]k8sDoc{}
		}
		if _, dup := byKind[d.Kind][d.Metadata.Name]; dup {
			t.Errorf("duplicate %s/%s", d.Kind, d.Metadata.Name)
		}
		byKind[d.Kind][d.Metadata.Name] = d
	}
	for _, ss := range byKind["StatefulSet"] {
		if ss.Spec.Replicas == nil || ss.Spec.ServiceName == "" {
			t.Errorf("StatefulSet %s: replicas and serviceName required", ss.Metadata.Name)
		}
		for k, v := range ss.Spec.Selector.MatchLabels {
			if ss.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("StatefulSet %s: selector %s=%s does not match the pod labels", ss.Metadata.Name, k, v)
			}
		}
		if _, ok := byKind["Service"][ss.Spec.ServiceName]; !ok {
			t.Errorf("StatefulSet %s: no Service %s", ss.Metadata.Name, ss.Spec.ServiceName)
		}
		for _, c := range ss.Spec.Template.Spec.Containers {
			if !pinnedImage.MatchString(c.Image) {
				t.Errorf("%s/%s: image %q not pinned", ss.Metadata.Name, c.Name, c.Image)
			}
			if c.Resources.Limits["memory"] == "" {
				t.Errorf("%s/%s: no memory limit", ss.Metadata.Name, c.Name)
			}
		}
	}
	need := func(kind, name string) k8sDoc {
		t.Helper()
		d, ok := byKind[kind][name]
		if !ok {
			t.Fatalf("no %s/%s", kind, name)
		}
		return d
	}
	cloud := need("StatefulSet", "shouwang-cloud")
	need("Service", "shouwang-cloud")
	need("PodDisruptionBudget", "shouwang-cloud")
	if emqx := need("StatefulSet", "emqx"); *emqx.Spec.Replicas < 3 {
		t.Errorf("EMQX: %d replicas, want a cluster of >= 3", *emqx.Spec.Replicas)
	}
	if pg := need("StatefulSet", "postgres"); *pg.Spec.Replicas != 1 {
		t.Errorf("postgres: %d replicas; the reference has one primary", *pg.Spec.Replicas)
	}
	need("StatefulSet", "postgres-standby")
	need("Service", "postgres-standby")
	if in := need("StatefulSet", "influxdb"); *in.Spec.Replicas != 1 {
		t.Errorf("influxdb: %d replicas; 1.8 OSS is single-node", *in.Spec.Replicas)
	}
	if rn := cloud.Spec.Template.Spec.SecurityContext.RunAsNonRoot; rn == nil || !*rn {
		t.Error("shouwang-cloud: runAsNonRoot not set")
	}
	if args := strings.Join(cloud.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "$(POD_NAME).yaml") {
		t.Errorf("shouwang-cloud args %q: each replica must read its own config", args)
	}
	// One config per replica, named after the pod, each loading, distinct client IDs.
	cm := need("ConfigMap", "shouwang-cloud")
	n := *cloud.Spec.Replicas
	if len(cm.Data) != n {
		t.Errorf("ConfigMap has %d configs for %d replicas", len(cm.Data), n)
	}
	cfgs := map[string]cloudconfig.Config{}
	for i := 0; i < n; i++ {
		key := "shouwang-cloud-" + string(rune('0'+i)) + ".yaml"
		text, ok := cm.Data[key]
		if !ok {
			t.Errorf("ConfigMap: no %s for pod shouwang-cloud-%d", key, i)
			continue
		}
		cfgs[key] = loadCloudConfig(t, key, []byte(text))
	}
	checkReplicas(t, "kubernetes", cfgs)
}
