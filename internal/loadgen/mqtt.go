package loadgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// conn is a minimal MQTT 3.1.1 client for the load side only: CONNECT (with a will),
// SUBSCRIBE, PUBLISH QoS 0/1, PUBACK both ways, PINGREQ and DISCONNECT over one
// net.Conn, with one reader goroutine and no other. paho keeps several goroutines,
// channels and a message store per client; at 10k+ connections from one process
// that, not the broker, is what a load generator runs out of first.
type conn struct {
	c  net.Conn
	br *bufio.Reader

	wmu     sync.Mutex // serialises writes and guards the fields below
	nextID  uint16
	pending map[uint16]inflight
	lastW   time.Time

	onPubAck  func(ch string, sent time.Time)
	onPublish func(topic string, payload []byte)
}

type inflight struct {
	ch   string
	sent time.Time
}

type connectOpts struct {
	ClientID, Username, Password string
	KeepAlive                    time.Duration
	CleanSession                 bool
	WillTopic                    string
	WillPayload                  []byte
	WillQoS                      byte
	WillRetain                   bool
}

// errConnRefused is a CONNACK with a non-zero return code.
type errConnRefused byte

func (e errConnRefused) Error() string {
	return fmt.Sprintf("mqtt: connection refused, return code %d", byte(e))
}

// dial connects and completes the MQTT handshake; the caller then runs readLoop.
func dial(d *net.Dialer, addr string, o connectOpts, timeout time.Duration) (*conn, error) {
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{c: nc, br: bufio.NewReaderSize(nc, 512), pending: map[uint16]inflight{}}
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write(encodeConnect(o)); err != nil {
		nc.Close()
		return nil, err
	}
	typ, body, err := c.readPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqtt: read CONNACK: %w", err)
	}
	if typ>>4 != 2 || len(body) != 2 {
		nc.Close()
		return nil, fmt.Errorf("mqtt: want CONNACK, got packet type %d", typ>>4)
	}
	if body[1] != 0 {
		nc.Close()
		return nil, errConnRefused(body[1])
	}
	nc.SetDeadline(time.Time{})
	c.lastW = time.Now()
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendRemLen(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func packet(header byte, body []byte) []byte {
	out := make([]byte, 0, len(body)+5)
	out = append(out, header)
	out = appendRemLen(out, len(body))
	return append(out, body...)
}

func encodeConnect(o connectOpts) []byte {
	var flags byte
	if o.CleanSession {
		flags |= 0x02
	}
	if o.WillTopic != "" {
		flags |= 0x04 | o.WillQoS<<3
		if o.WillRetain {
			flags |= 0x20
		}
	}
	if o.Username != "" {
		flags |= 0x80
		if o.Password != "" {
			flags |= 0x40
		}
	}
	b := appendString(nil, "MQTT")
	b = append(b, 4, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(o.KeepAlive/time.Second))
	b = appendString(b, o.ClientID)
	if o.WillTopic != "" {
		b = appendString(b, o.WillTopic)
		b = binary.BigEndian.AppendUint16(b, uint16(len(o.WillPayload)))
		b = append(b, o.WillPayload...)
	}
	if o.Username != "" {
		b = appendString(b, o.Username)
		if o.Password != "" {
			b = appendString(b, o.Password)
		}
	}
	return packet(0x10, b)
}

// readPacket reads one control packet: its type (high nibble), flags and body.
func (c *conn) readPacket() (typ byte, body []byte, err error) {
	h, err := c.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("mqtt: malformed remaining length")
		}
		mul *= 128
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return 0, nil, err
	}
	return h, body, nil
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.c.Write(b)
	c.lastW = time.Now()
	return err
}

// publish sends a PUBLISH; at QoS 1 it is tracked until its PUBACK, reported to
// onPubAck with ch (the label the caller counts it under).
func (c *conn) publish(topic string, qos byte, retain bool, payload []byte, ch string) error {
	h := byte(0x30) | qos<<1
	if retain {
		h |= 1
	}
	body := make([]byte, 0, 2+len(topic)+2+len(payload))
	body = appendString(body, topic)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if qos > 0 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		body = binary.BigEndian.AppendUint16(body, c.nextID)
		c.pending[c.nextID] = inflight{ch: ch, sent: time.Now()}
	}
	body = append(body, payload...)
	return c.writeLocked(packet(h, body))
}

// subscribe sends a SUBSCRIBE; its SUBACK is read (and ignored) by readLoop.
func (c *conn) subscribe(filter string, qos byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	body := binary.BigEndian.AppendUint16(nil, c.nextID)
	body = appendString(body, filter)
	body = append(body, qos)
	return c.writeLocked(packet(0x82, body))
}

// pingIfIdle sends PINGREQ when nothing was written for idle.
func (c *conn) pingIfIdle(idle time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if time.Since(c.lastW) < idle {
		return nil
	}
	return c.writeLocked([]byte{0xc0, 0})
}

// pendingCount is how many QoS 1 publishes await their PUBACK.
func (c *conn) pendingCount() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.pending)
}

// disconnect sends DISCONNECT (so the broker drops the will) and closes.
func (c *conn) disconnect() {
	c.wmu.Lock()
	c.c.SetWriteDeadline(time.Now().Add(time.Second))
	c.c.Write([]byte{0xe0, 0})
	c.wmu.Unlock()
	c.c.Close()
}

// readLoop handles what the broker sends until the connection ends.
func (c *conn) readLoop() error {
	for {
		h, body, err := c.readPacket()
		if err != nil {
			return err
		}
		switch h >> 4 {
		case 4: // PUBACK
			if len(body) < 2 {
				return errors.New("mqtt: short PUBACK")
			}
			id := binary.BigEndian.Uint16(body)
			c.wmu.Lock()
			f, ok := c.pending[id]
			delete(c.pending, id)
			c.wmu.Unlock()
			if ok && c.onPubAck != nil {
				c.onPubAck(f.ch, f.sent)
			}
		case 3: // PUBLISH
			qos := (h >> 1) & 3
			if len(body) < 2 {
				return errors.New("mqtt: short PUBLISH")
			}
			tl := int(binary.BigEndian.Uint16(body))
			if len(body) < 2+tl {
				return errors.New("mqtt: short PUBLISH topic")
			}
			topic := string(body[2 : 2+tl])
			rest := body[2+tl:]
			if qos > 0 {
				if len(rest) < 2 {
					return errors.New("mqtt: short PUBLISH id")
				}
				id := rest[:2]
				rest = rest[2:]
				if err := c.write([]byte{0x40, 2, id[0], id[1]}); err != nil {
					return err
				}
			}
			if c.onPublish != nil {
				c.onPublish(topic, rest)
			}
		case 9, 13: // SUBACK, PINGRESP
		default:
			return fmt.Errorf("mqtt: unexpected packet type %d", h>>4)
		}
	}
}
