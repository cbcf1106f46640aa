package outbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// Telemetry is held in its own bucket so a long outage of the uplink can never crowd
// out alerts: it is bounded (DefaultTelemetryLimit bytes of JSON, or SetTelemetryLimit),
// alerts are not. Each batch is written in one transaction when the daemon flushes
// (once per telemetry interval, a minute by default), so the SD card sees one small
// synced write per interval rather than one per reading.
var (
	bucketTelemetry = []byte("telemetry") // seq (big-endian) → telemetry JSON; seq is the wire seq
	keyDropped      = []byte("telemetry_dropped")
)

// DefaultTelemetryLimit holds about ten days of one-minute batches for a typical home
// (two meters and a few PIRs, ~600 bytes a batch).
const DefaultTelemetryLimit = 8 << 20

// downsampleStep is the resolution telemetry is reduced to when the store is full: the
// last reading per meter per hour still draws the day's curve and feeds the rules'
// history; activity counts are summed into the same hours, so totals are kept.
const downsampleStep = time.Hour

// SetTelemetryLimit bounds the bytes of telemetry held; ≤ 0 restores the default.
func (o *Outbox) SetTelemetryLimit(bytes int64) {
	if bytes <= 0 {
		bytes = DefaultTelemetryLimit
	}
	o.telemetryLimit.Store(bytes)
}

// PutTelemetry stores one batch and returns the seq it will be published with. The
// seq comes from the bucket's persistent sequence, so it keeps growing across
// restarts. When the bucket outgrows its limit the backlog is downsampled and then, if
// still too large, the oldest batches are dropped; dropped readings and counts are
// added to TelemetryDropped.
func (o *Outbox) PutTelemetry(t mqttv1.Telemetry) (uint64, error) {
	var seq uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelemetry)
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		t.Seq = seq
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
		return o.bound(tx)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox put telemetry: %w", err)
	}
	return seq, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func telemetrySize(b *bolt.Bucket) (size int64, n int) {
	_ = b.ForEach(func(_, v []byte) error {
		size += int64(len(v))
		n++
		return nil
	})
	return size, n
}

// bound enforces the telemetry limit inside the caller's transaction.
func (o *Outbox) bound(tx *bolt.Tx) error {
	limit := o.telemetryLimit.Load()
	b := tx.Bucket(bucketTelemetry)
	size, n := telemetrySize(b)
	if size <= limit {
		return nil
	}
	// 1. Downsample everything but the newest batch (the one just written, still at
	// full resolution) into hourly batches stored under the oldest keys, so the
	// send order stays oldest first.
	if n > 2 {
		if err := downsample(b); err != nil {
			return fmt.Errorf("downsample telemetry: %w", err)
		}
		if size, _ = telemetrySize(b); size <= limit {
			return nil
		}
	}
	// 2. Drop oldest first until below 90 % of the limit, so the next few puts do not
	// each pay for a full pass.
	var dropped int64
	c := b.Cursor()
	for k, v := c.First(); k != nil && size > limit*9/10; k, v = c.First() {
		var t mqttv1.Telemetry
		if json.Unmarshal(v, &t) == nil {
			dropped += int64(len(t.Readings) + len(t.Activity))
		}
		size -= int64(len(v))
		if err := c.Delete(); err != nil {
			return err
		}
	}
	st := tx.Bucket(bucketState)
	var total int64
	if prev := st.Get(keyDropped); len(prev) == 8 {
		total = int64(binary.BigEndian.Uint64(prev))
	}
	total += dropped
	o.dropped.Store(total)
	return st.Put(keyDropped, binary.BigEndian.AppendUint64(nil, uint64(total)))
}

// downsample rewrites every batch but the newest as hourly batches.
func downsample(b *bolt.Bucket) error {
	type key struct {
		sensor string
		hour   int64
	}
	readings := map[key]mqttv1.Reading{}
	activity := map[key]mqttv1.Activity{}
	var keys [][]byte
	c := b.Cursor()
	last, _ := c.Last()
	for k, v := c.First(); k != nil && string(k) != string(last); k, v = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
		var t mqttv1.Telemetry
		if err := json.Unmarshal(v, &t); err != nil {
			continue // unreadable batch: dropped with the rewrite, it could never be sent
		}
		for _, r := range t.Readings {
			k := key{r.Sensor, r.T.Truncate(downsampleStep).Unix()}
			if prev, ok := readings[k]; !ok || !r.T.Before(prev.T) {
				readings[k] = r
			}
		}
		for _, a := range t.Activity {
			k := key{a.Sensor, a.T.Truncate(downsampleStep).Unix()}
			prev, ok := activity[k]
			if !ok {
				activity[k] = a
				continue
			}
			start, end := prev.T, prev.T.Add(time.Duration(prev.PeriodS)*time.Second)
			if a.T.Before(start) {
				start = a.T
			}
			if e := a.T.Add(time.Duration(a.PeriodS) * time.Second); e.After(end) {
				end = e
			}
			prev.T, prev.PeriodS, prev.Count = start, min(max(int(end.Sub(start)/time.Second), 1), 86400), min(prev.Count+a.Count, 1_000_000)
			activity[k] = prev
		}
	}
	rs := make([]mqttv1.Reading, 0, len(readings))
	for _, r := range readings {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].T.Equal(rs[j].T) {
			return rs[i].T.Before(rs[j].T)
		}
		return rs[i].Sensor < rs[j].Sensor
	})
	as := make([]mqttv1.Activity, 0, len(activity))
	for _, a := range activity {
		as = append(as, a)
	}
	sort.Slice(as, func(i, j int) bool {
		if !as[i].T.Equal(as[j].T) {
			return as[i].T.Before(as[j].T)
		}
		return as[i].Sensor < as[j].Sensor
	})
	// Chunks well inside the contract's limits (2000 items, 256 KiB).
	const chunk = 500
	var out []mqttv1.Telemetry
	for len(rs) > 0 || len(as) > 0 {
		var t mqttv1.Telemetry
		n := min(chunk, len(rs))
		t.Readings, rs = rs[:n], rs[n:]
		n = min(chunk, len(as))
		t.Activity, as = as[:n], as[n:]
		out = append(out, t)
	}
	for i, k := range keys {
		if i >= len(out) {
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		out[i].Seq = binary.BigEndian.Uint64(k)
		v, err := json.Marshal(out[i])
		if err != nil {
			return err
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

// PendingTelemetry returns up to limit stored batches, oldest first, each with the
// seq it was stored under.
func (o *Outbox) PendingTelemetry(limit int) ([]mqttv1.Telemetry, error) {
	var out []mqttv1.Telemetry
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTelemetry).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var t mqttv1.Telemetry
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("telemetry %x: %w", k, err)
			}
			t.Seq = binary.BigEndian.Uint64(k)
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox pending telemetry: %w", err)
	}
	return out, nil
}

// DeleteTelemetry removes batches the broker has accepted (telemetry has no
// application acknowledgement: a lost batch is a gap in a chart, not a missed alarm).
func (o *Outbox) DeleteTelemetry(seqs ...uint64) error {
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTelemetry)
		for _, s := range seqs {
			if err := b.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox delete telemetry: %w", err)
	}
	return nil
}

// TelemetryLen returns the number of batches held and their bytes.
func (o *Outbox) TelemetryLen() (batches int, bytes int64) {
	_ = o.db.View(func(tx *bolt.Tx) error {
		bytes, batches = telemetrySize(tx.Bucket(bucketTelemetry))
		return nil
	})
	return batches, bytes
}

// TelemetryDropped returns how many readings and activity counts were dropped over
// the store's lifetime because the backlog outgrew its limit.
func (o *Outbox) TelemetryDropped() int64 { return o.dropped.Load() }
