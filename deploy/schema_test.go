package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8syaml "sigs.k8s.io/yaml"
)

// The compose file is checked the way `docker compose config` checks it: compose-go
// validates it against the Compose Specification's JSON schema, then checks that
// every service, secret, volume and network it refers to exists.
func TestComposeSchema(t *testing.T) {
	dir, _ := filepath.Abs("scale")
	p, err := loadCompose(dir, "docker-compose.yaml")
	if err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	if len(p.Services) < 6 {
		t.Errorf("%d services loaded, want the cloud replicas, EMQX nodes, postgres and influxdb", len(p.Services))
	}
	for name, doc := range map[string]string{
		"misspelt field":   "services: {a: {imagee: x:1}}\n",
		"wrong type":       "services: {a: {image: x:1, ports: 80}}\n",
		"undefined secret": "services: {a: {image: x:1, secrets: [nope]}}\n",
		"unknown service":  "services: {a: {image: x:1, depends_on: [b]}}\n",
	} {
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "compose.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadCompose(tmp, "compose.yaml"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func loadCompose(dir, file string) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, file)}},
		Environment: types.Mapping{},
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("shouwang", true)
		o.ResolvePaths = true
	})
}

// k8sKinds are the API types the manifests may use; anything else is an error, so a
// new kind comes with its schema.
var k8sKinds = map[string]func() any{
	"v1/Namespace":                  func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"apps/v1/StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

// Each Kubernetes manifest decodes into the API's own Go types (k8s.io/api, the
// source of the OpenAPI schema kubectl validates against) with unknown fields
// refused, so a misspelt or misplaced field, a wrong type or a bad quantity fails
// here as `kubectl apply --validate=strict` would fail it.
func TestKubernetesSchema(t *testing.T) {
	b, err := os.ReadFile("scale/k8s/shouwang.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 1; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if err := checkK8sDocument(&node); err != nil {
			t.Errorf("shouwang.yaml document %d (line %d): %v", i, node.Line, err)
		}
	}
}

func checkK8sDocument(node *yaml.Node) error {
	text, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	js, err := k8syaml.YAMLToJSON(text)
	if err != nil {
		return err
	}
	var head struct{ APIVersion, Kind string }
	if err := json.Unmarshal(js, &head); err != nil {
		return err
	}
	newObj, ok := k8sKinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return fmt.Errorf("%s %s: not a kind this test knows; add its k8s.io/api type", head.APIVersion, head.Kind)
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(newObj()); err != nil {
		return fmt.Errorf("%s: %w", head.Kind, err)
	}
	return nil
}

// The check refuses what it should: a misspelt field, a wrong type, a bad quantity
// and an unknown kind.
func TestKubernetesSchemaRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n",
		"wrong type":     "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: three}\n",
		"bad quantity":   "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, resources: {limits: {memory: lots}}}]}}}\n",
		"unknown kind":   "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
	} {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
			t.Fatal(err)
		}
		if err := checkK8sDocument(&node); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
