package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// TestErase: erasing a resident removes their gateway's series and nothing else,
// on every store.
func TestErase(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			ctx := t.Context()
			must(t, s.Write(ctx, batch(gw, []mqttv1.Reading{m3("water", at("5m"), 1.0)})))
			must(t, s.Write(ctx, batch("gw-0002", []mqttv1.Reading{m3("water", at("5m"), 99)})))
			var err error
			switch e := s.(type) {
			case *SQL:
				err = e.Erase(ctx, gw)
			case influxFlushed:
				err = e.Influx.Erase(ctx, gw)
			case influxBlocking:
				err = e.Influx.Erase(ctx, gw)
			default:
				t.Fatalf("no Erase on %T", s)
			}
			must(t, err)
			q := func(g string) int {
				got, err := s.Query(context.Background(), g, "water", base, base.Add(time.Hour), time.Hour)
				must(t, err)
				return len(got.Points)
			}
			if q(gw) != 0 || q("gw-0002") != 1 {
				t.Fatalf("after erase: erased gateway %d points, neighbour %d", q(gw), q("gw-0002"))
			}
		})
	}
}
