package telemetry

import (
	"strconv"
	"strings"

	"github.com/shouwang-care/shouwang/firmware-protocol/mqttv1"
)

// linesPerRecord is how many points go into one record handed to the
// client's asynchronous writer. The writer counts records, not points,
// towards its batch size, and takes each over a channel: a gateway message
// (typically 4 points) costs one hand-off, and a request stays within
// BatchSize points however large the messages are.
const linesPerRecord = 4

// records formats a validated batch as InfluxDB line protocol, linesPerRecord
// points per string (lines joined by '\n', none trailing).
//
// The cloud formats lines itself rather than building write.Points: a Point
// costs two maps and a generic encoder per point, which was 18 % of ingest's
// CPU. What is written is the same: the contract tests compare every store's
// answers, hostile sensor names included.
func records(t *mqttv1.Telemetry) []string {
	n := len(t.Readings) + len(t.Activity)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, (n+linesPerRecord-1)/linesPerRecord)
	var b []byte
	lines := 0
	line := func() {
		lines++
		if lines%linesPerRecord == 0 || lines == n {
			out = append(out, string(b))
			b = b[:0]
		} else {
			b = append(b, '\n')
		}
	}
	for _, r := range t.Readings {
		f, v := readingValue(r)
		b = appendSeries(b, measurementMeter, t.Gateway, r.Sensor)
		b = append(b, f...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.T.UnixNano(), 10)
		line()
	}
	for _, a := range t.Activity {
		b = appendSeries(b, measurementActivity, t.Gateway, a.Sensor)
		b = append(b, FieldCount+"="...)
		b = strconv.AppendInt(b, int64(a.Count), 10)
		b = append(b, "i,period_s="...)
		b = strconv.AppendInt(b, int64(a.PeriodS), 10)
		b = append(b, "i "...)
		b = strconv.AppendInt(b, a.T.UnixNano(), 10)
		line()
	}
	return out
}

// appendSeries appends "measurement,gateway=…,sensor=… " (tags in key order,
// as InfluxDB sorts them anyway). The gateway ID needs no escaping (a-z 0-9
// '-', checked by validate); the sensor name may hold anything but control
// characters and backslashes (checkSensor), of which line protocol escapes
// commas, '=' and spaces in tag values.
func appendSeries(b []byte, measurement, gateway, sensor string) []byte {
	b = append(b, measurement...)
	b = append(b, ",gateway="...)
	b = append(b, gateway...)
	b = append(b, ",sensor="...)
	if !strings.ContainsAny(sensor, ", =") {
		b = append(b, sensor...)
	} else {
		for i := 0; i < len(sensor); i++ {
			if c := sensor[i]; c == ',' || c == ' ' || c == '=' {
				b = append(b, '\\')
			}
			b = append(b, sensor[i])
		}
	}
	return append(b, ' ')
}
