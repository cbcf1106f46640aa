package sensornode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vectors.json is shared with firmware authors; this test keeps it, the
// codec and the spec in agreement.
type vectorFile struct {
	Protocol string `json:"protocol"`
	Version  int    `json:"version"`
	CRC      struct {
		Name  string `json:"name"`
		Check string `json:"check"`
	} `json:"crc"`
	Frames  []frameVector  `json:"frames"`
	Streams []streamVector `json:"streams"`
}

type frameVector struct {
	Name    string       `json:"name"`
	Hex     string       `json:"hex"`
	Frame   *vectorFrame `json:"frame"`
	Error   string       `json:"error"`
	Offset  int64        `json:"offset"`
	Message string       `json:"message"`
}

type streamVector struct {
	Name     string        `json:"name"`
	Hex      string        `json:"hex"`
	Frames   []vectorFrame `json:"frames"`
	Errors   []string      `json:"errors"`
	Skipped  int64         `json:"skipped"`
	Buffered int           `json:"buffered"`
}

type vectorFrame struct {
	Kind      string `json:"kind"`
	Flags     uint8  `json:"flags"`
	Node      string `json:"node"`
	Seq       uint16 `json:"seq"`
	Event     uint8  `json:"event"`
	EventName string `json:"event_name"`
	Battery   uint8  `json:"battery"`
}

func (v vectorFrame) frame(t *testing.T) Frame {
	t.Helper()
	node, err := strconv.ParseUint(v.Node, 16, 32)
	if err != nil {
		t.Fatalf("node %q: %v", v.Node, err)
	}
	f := Frame{Flags: Flags(v.Flags), Node: NodeID(node), Seq: v.Seq, Event: Event(v.Event), Battery: v.Battery}
	switch v.Kind {
	case "event":
		f.Kind = KindEvent
		if f.Event.String() != v.EventName {
			t.Errorf("event_name %q, code 0x%02X is %q", v.EventName, v.Event, f.Event)
		}
	case "ack":
		f.Kind = KindAck
	default:
		t.Fatalf("kind %q", v.Kind)
	}
	return f
}

var sentinels = map[string]error{
	"sync": ErrSync, "truncated": ErrTruncated, "length": ErrLength,
	"crc": ErrCRC, "version": ErrVersion, "kind": ErrKind,
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile // "note" fields are for humans and not decoded
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	if vf.Version != int(Version) || len(vf.Frames) == 0 || len(vf.Streams) == 0 {
		t.Fatalf("vectors.json: version %d, %d frames, %d streams", vf.Version, len(vf.Frames), len(vf.Streams))
	}
	if vf.CRC.Check != "0x29B1" || Checksum([]byte("123456789")) != 0x29B1 {
		t.Fatalf("CRC check value %s", vf.CRC.Check)
	}
	return vf
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Frames {
		t.Run(v.Name, func(t *testing.T) {
			raw := mustHex(t, v.Hex)
			f, n, err := Decode(raw)
			if v.Frame == nil {
				want := sentinels[v.Error]
				if want == nil {
					t.Fatalf("unknown error name %q", v.Error)
				}
				var fe *FrameError
				if !errors.As(err, &fe) || !errors.Is(err, want) || fe.Offset != v.Offset || err.Error() != v.Message {
					t.Fatalf("got %v, want %s at %d: %q", err, v.Error, v.Offset, v.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := v.Frame.frame(t); f != want || n != len(raw) {
				t.Fatalf("got %+v (%d bytes), want %+v (%d)", f, n, want, len(raw))
			}
			// Frames without extension bytes re-encode byte for byte.
			if min := f.Kind.bodyLen(); int(raw[offLen]) == min {
				if got := encode(f); !bytes.Equal(got, raw) {
					t.Fatalf("encode = %X, want %s", got, v.Hex)
				}
			}
		})
	}
	for _, v := range vf.Streams {
		t.Run("stream/"+v.Name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(mustHex(t, v.Hex)))
			frames, ferrs, final := drain(t, d)
			if final != io.EOF {
				t.Fatal(final)
			}
			if len(frames) != len(v.Frames) || len(ferrs) != len(v.Errors) {
				t.Fatalf("got %v / %v, want %d frames / %v", frames, ferrs, len(v.Frames), v.Errors)
			}
			for i := range frames {
				if want := v.Frames[i].frame(t); frames[i] != want {
					t.Errorf("frame %d: %+v, want %+v", i, frames[i], want)
				}
			}
			for i, fe := range ferrs {
				if !errors.Is(fe, sentinels[v.Errors[i]]) {
					t.Errorf("error %d: %v, want %s", i, fe, v.Errors[i])
				}
			}
			if d.Skipped() != v.Skipped || d.end-d.start != v.Buffered {
				t.Errorf("skipped %d buffered %d, want %d %d", d.Skipped(), d.end-d.start, v.Skipped, v.Buffered)
			}
		})
	}
}

// TestSpecListsVectors keeps the human-readable spec in step with the file.
func TestSpecListsVectors(t *testing.T) {
	vf := loadVectors(t)
	b, err := os.ReadFile("../docs/sensornode.md")
	if err != nil {
		t.Fatal(err)
	}
	// The spec may group hex bytes with spaces for readability.
	spec := strings.NewReplacer(" ", "", "\n", "", "`", "").Replace(strings.ToUpper(string(b)))
	for _, v := range vf.Frames {
		if !strings.Contains(spec, v.Hex) {
			t.Errorf("spec is missing vector %q (%s)", v.Name, v.Hex)
		}
	}
	for _, v := range vf.Streams {
		if !strings.Contains(spec, v.Hex) {
			t.Errorf("spec is missing stream vector %q", v.Name)
		}
	}
}
