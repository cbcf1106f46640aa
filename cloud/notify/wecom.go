package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WeComBaseURL is the public WeCom (企业微信) API host.
const WeComBaseURL = "https://qyapi.weixin.qq.com"

// WeComConfig configures WeCom application messages (应用消息) from a
// self-built app (自建应用).
type WeComConfig struct {
	CorpID     string
	CorpSecret string // the app's Secret
	AgentID    int64  // the app's AgentId
	BaseURL    string // default WeComBaseURL; tests point it at httptest
	HTTPClient *http.Client
}

// Validate reports missing or unusable settings.
func (c WeComConfig) Validate() error {
	var errs []string
	if c.CorpID == "" {
		errs = append(errs, "CorpID is empty")
	}
	if c.CorpSecret == "" {
		errs = append(errs, "CorpSecret is empty (the application's Secret)")
	}
	if c.AgentID <= 0 {
		errs = append(errs, "AgentID must be the application's positive AgentId")
	}
	if c.BaseURL != "" {
		if err := checkBaseURL("BaseURL", c.BaseURL); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return joinErrs("notify: wecom: ", errs)
}

// WeCom sends application messages: a textcard (title, description, link
// button) when the message has a URL, plain text otherwise. The access token
// is cached until 5 minutes before expires_in and fetched again on errcode
// 40014/42001/41001.
type WeCom struct {
	cfg WeComConfig
	now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewWeCom checks cfg and returns the channel.
func NewWeCom(cfg WeComConfig) (*WeCom, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = WeComBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &WeCom{cfg: cfg, now: time.Now}, nil
}

// Name implements Channel.
func (c *WeCom) Name() string { return NameWeCom }

// Accepts implements Acceptor.
func (c *WeCom) Accepts(r Recipient) bool { return r.WeComUserID != "" }

type wecomReply struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	InvalidUser string `json:"invaliduser"`
	MsgID       string `json:"msgid"`
}

func (c *WeCom) get(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !force && c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	q := url.Values{"corpid": {c.cfg.CorpID}, "corpsecret": {c.cfg.CorpSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.BaseURL+"/cgi-bin/gettoken?"+q.Encode(), nil)
	if err != nil {
		return "", Permanent(NameWeCom, ReasonInvalid, "", err)
	}
	var r wecomReply
	if err := c.do(req, &r); err != nil {
		return "", err
	}
	if r.ErrCode != 0 || r.AccessToken == "" {
		e := wecomError(r)
		if e.Reason == ReasonRejected {
			e.Reason = ReasonAuth // any refusal of gettoken is a credentials problem
		}
		return "", e
	}
	ttl := time.Duration(r.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 7200 * time.Second
	}
	margin := 5 * time.Minute
	if ttl < 2*margin {
		margin = ttl / 2
	}
	c.token, c.expires = r.AccessToken, c.now().Add(ttl-margin)
	return c.token, nil
}

func (c *WeCom) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

func (c *WeCom) do(req *http.Request, into *wecomReply) error {
	resp, err := clientOr(c.cfg.HTTPClient).Do(req)
	if err != nil {
		return Transient(NameWeCom, "", err)
	}
	defer resp.Body.Close()
	body, _ := readBody(resp.Body)
	if resp.StatusCode/100 != 2 {
		return httpStatusError(NameWeCom, resp, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return Transient(NameWeCom, "", fmt.Errorf("unreadable response: %q", truncate(string(body), 200)))
	}
	return nil
}

// WeComTextCard is the textcard body; description is limited to 512 bytes
// and title to 128 bytes by WeCom.
type WeComTextCard struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	BtnTxt      string `json:"btntxt,omitempty"`
}

// WeComMessage is the message/send body.
type WeComMessage struct {
	ToUser   string         `json:"touser"`
	MsgType  string         `json:"msgtype"` // text|textcard
	AgentID  int64          `json:"agentid"`
	Text     *WeComText     `json:"text,omitempty"`
	TextCard *WeComTextCard `json:"textcard,omitempty"`
	Safe     int            `json:"safe"`
}

// WeComText is the text body (content at most 2048 bytes).
type WeComText struct {
	Content string `json:"content"`
}

func (c *WeCom) message(m Message) WeComMessage {
	wm := WeComMessage{ToUser: m.Recipient.WeComUserID, AgentID: c.cfg.AgentID}
	title, body := m.Title(), m.Body()
	if m.Urgent {
		if m.Recipient.English() {
			title = "[URGENT] " + title
		} else {
			title = "【紧急】" + title
		}
	}
	if m.URL != "" {
		btn := "查看详情"
		if m.Recipient.English() {
			btn = "Details"
		}
		wm.MsgType = "textcard"
		wm.TextCard = &WeComTextCard{Title: truncate(title, 128), Description: truncate(body, 512), URL: m.URL, BtnTxt: btn}
	} else {
		content := title
		if body != "" {
			content += "\n" + body
		}
		wm.MsgType = "text"
		wm.Text = &WeComText{Content: truncate(content, 2048)}
	}
	return wm
}

// Send implements Channel.
func (c *WeCom) Send(ctx context.Context, m Message) error {
	if m.Recipient.WeComUserID == "" {
		return Permanent(NameWeCom, ReasonInvalid, "", fmt.Errorf("recipient %s has no WeCom user ID", m.Recipient.ID))
	}
	body, err := json.Marshal(c.message(m))
	if err != nil {
		return Permanent(NameWeCom, ReasonInvalid, "", err)
	}
	for try := 0; ; try++ {
		tok, err := c.get(ctx, false)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			c.cfg.BaseURL+"/cgi-bin/message/send?access_token="+url.QueryEscape(tok), bytes.NewReader(body))
		if err != nil {
			return Permanent(NameWeCom, ReasonInvalid, "", err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		var r wecomReply
		if err := c.do(req, &r); err != nil {
			return err
		}
		switch r.ErrCode {
		case 0:
			if r.InvalidUser != "" {
				// accepted, but not for this member (not in the app's visible range, left the corp…)
				return Permanent(NameWeCom, ReasonRejected, "invaliduser",
					fmt.Errorf("user %q not reachable by agent %d", r.InvalidUser, c.cfg.AgentID))
			}
			return nil
		case 40014, 42001, 41001: // invalid / expired / missing access_token
			c.invalidate(tok)
			if try == 0 {
				continue // fetch a new token and send once more, now
			}
		}
		return wecomError(r)
	}
}

// wecomError classifies errcodes: -1 (system busy), 45009 (API frequency),
// 45033 (concurrency) and token errors are retryable; the rest (bad
// user/agent, IP not allowed 60020, content…) are not.
func wecomError(r wecomReply) *Error {
	code := strconv.Itoa(r.ErrCode)
	err := errors.New(r.ErrMsg)
	switch r.ErrCode {
	case -1, 40014, 42001, 41001:
		return Transient(NameWeCom, code, err)
	case 45009, 45033, 45047:
		return &Error{Channel: NameWeCom, Reason: ReasonRateLimited, Code: code, Retryable: true, RetryAfter: 10 * time.Second, Err: err}
	case 40001, 40013, 40056, 60020, 48002, 301002:
		return Permanent(NameWeCom, ReasonAuth, code, err)
	default:
		return Permanent(NameWeCom, ReasonRejected, code, err)
	}
}
