// Package outbox is the edge's durable store of alerts not yet acknowledged by the
// cloud. An alert is written (and fsynced) here before it is published and leaves only
// on the cloud's application-level acknowledgement of its (id, state).
package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

var (
	bucketAlerts = []byte("alerts") // seq (big-endian) → alert JSON, so iteration is send order
	bucketIndex  = []byte("index")  // id "/" state → seq
	bucketState  = []byte("state")  // small key/value state (config revision, rule state)
)

// Outbox is safe for concurrent use.
type Outbox struct {
	db             *bolt.DB
	telemetryLimit atomic.Int64
	dropped        atomic.Int64 // mirror of the persisted telemetry drop counter

	// Salvaged is how many alerts were recovered from a quarantined file at Open.
	Salvaged int
}

// Open opens or creates the store at path. A file bbolt cannot open, or one that fails
// bbolt's consistency check, is quarantined (renamed with a timestamp, bytes kept for
// inspection) and a fresh store started: a gateway that refuses to start watches
// nobody. Alerts still readable in the quarantined file are salvaged into the fresh
// store, so a torn page costs at most the alerts on it. quarantined is the new name of
// the old file, or "".
func Open(path string) (o *Outbox, quarantined string, err error) {
	db, err := open(path)
	salvaged := 0
	if err != nil {
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, "", fmt.Errorf("open outbox %s: %w", path, err)
		}
		quarantined = fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405.000Z"))
		if rerr := os.Rename(path, quarantined); rerr != nil {
			return nil, "", fmt.Errorf("open outbox %s: %w (and quarantine failed: %v)", path, err, rerr)
		}
		if db, err = open(path); err != nil {
			return nil, quarantined, fmt.Errorf("open fresh outbox %s: %w", path, err)
		}
		saved := salvage(quarantined)
		o = &Outbox{db: db}
		if err := o.Commit(saved, "", nil); err != nil {
			db.Close()
			return nil, quarantined, fmt.Errorf("store alerts salvaged from %s: %w", quarantined, err)
		}
		salvaged = len(saved)
	}
	o = &Outbox{db: db, Salvaged: salvaged}
	o.telemetryLimit.Store(DefaultTelemetryLimit)
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketState).Get(keyDropped); len(v) == 8 {
			o.dropped.Store(int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	return o, quarantined, nil
}

// open opens path and checks it. bbolt trusts its pages once the meta page checksum
// passes and can panic on a garbled branch page later, so the whole file is checked
// here, where a failure still means "quarantine", not "crash loop".
func open(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("consistency check: %w", cerr)
		}
		return nil
	})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketAlerts, bucketIndex, bucketState, bucketTelemetry} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// salvage reads whatever alerts a corrupt file still yields, stopping at the first
// panic or error; order is kept.
func salvage(path string) (out []mqttv1.Alert) {
	defer func() { _ = recover() }()
	db, err := bolt.Open(path, 0o400, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return nil
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlerts)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var a mqttv1.Alert
			if json.Unmarshal(v, &a) == nil && a.ID != "" {
				out = append(out, a)
			}
			return nil
		})
	})
	return out
}

// Close closes the store.
func (o *Outbox) Close() error { return o.db.Close() }

func indexKey(k mqttv1.AckItem) []byte { return []byte(k.ID + "/" + string(k.State)) }

// Put stores a; storing the same (id, state) twice keeps one copy.
func (o *Outbox) Put(a mqttv1.Alert) error { return o.Commit([]mqttv1.Alert{a}, "", nil) }

// Commit stores alerts and, in the same transaction, the state under stateKey (if not
// empty): a power cut leaves either both or neither, so a rule never forgets an alert
// it raised nor raises one twice under new IDs.
func (o *Outbox) Commit(alerts []mqttv1.Alert, stateKey string, state any) error {
	enc := make([][]byte, len(alerts))
	for i, a := range alerts {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("outbox put %s: %w", a.ID, err)
		}
		enc[i] = b
	}
	var st []byte
	if stateKey != "" {
		var err error
		if st, err = json.Marshal(state); err != nil {
			return fmt.Errorf("outbox state %s: %w", stateKey, err)
		}
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		idx, bucket := tx.Bucket(bucketIndex), tx.Bucket(bucketAlerts)
		for i, a := range alerts {
			if idx.Get(indexKey(a.Key())) != nil {
				continue
			}
			seq, err := bucket.NextSequence()
			if err != nil {
				return err
			}
			key := binary.BigEndian.AppendUint64(nil, seq)
			if err := bucket.Put(key, enc[i]); err != nil {
				return err
			}
			if err := idx.Put(indexKey(a.Key()), key); err != nil {
				return err
			}
		}
		if stateKey != "" {
			return tx.Bucket(bucketState).Put([]byte(stateKey), st)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox commit of %d alerts: %w", len(alerts), err)
	}
	return nil
}

// Pending returns up to limit unacknowledged alerts, oldest first.
func (o *Outbox) Pending(limit int) ([]mqttv1.Alert, error) {
	var out []mqttv1.Alert
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAlerts).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var a mqttv1.Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox pending: %w", err)
	}
	return out, nil
}

// Ack removes acknowledged alerts and returns how many were still held.
func (o *Outbox) Ack(items []mqttv1.AckItem) (int, error) {
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		idx, alerts := tx.Bucket(bucketIndex), tx.Bucket(bucketAlerts)
		for _, it := range items {
			seq := idx.Get(indexKey(it))
			if seq == nil {
				continue
			}
			if err := alerts.Delete(seq); err != nil {
				return err
			}
			if err := idx.Delete(indexKey(it)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox ack: %w", err)
	}
	return n, nil
}

// Len returns the number of unacknowledged alerts.
func (o *Outbox) Len() int {
	n := 0
	_ = o.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAlerts).Stats().KeyN
		return nil
	})
	return n
}

// ErrNotFound is returned by GetState for a key never set.
var ErrNotFound = errors.New("not found")

// SetState stores small daemon state (rule timers, config revision) with the same
// durability as alerts, so a power cut does not reset a 12-hour timer.
func (o *Outbox) SetState(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	if err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketState).Put([]byte(key), b) }); err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	return nil
}

// GetState loads what SetState stored into v.
func (o *Outbox) GetState(key string, v any) error {
	var b []byte
	_ = o.db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket(bucketState).Get([]byte(key)); got != nil {
			b = append([]byte(nil), got...)
		}
		return nil
	})
	if b == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	return nil
}
