// Package deploy holds what an operator installs; its tests keep the examples loadable.
package deploy

import (
	"testing"

	cloudconfig "github.com/shouwang-care/shouwang/cloud/config"
	edgeconfig "github.com/shouwang-care/shouwang/edge/config"
)

func TestExampleConfigsLoad(t *testing.T) {
	if _, err := edgeconfig.Load("edge/edge.example.yaml"); err != nil {
		t.Error(err)
	}
	if _, err := cloudconfig.Load("cloud/cloud.example.yaml"); err != nil {
		t.Error(err)
	}
}
