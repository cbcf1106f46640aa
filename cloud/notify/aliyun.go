package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// AliyunSMSEndpoint is the public endpoint of Aliyun's dysmsapi.
const AliyunSMSEndpoint = "https://dysmsapi.aliyuncs.com/"

// AliyunSMSConfig configures Aliyun SMS (阿里云短信 SendSms, API 2017-05-25,
// RPC style, signature v1 HMAC-SHA1).
type AliyunSMSConfig struct {
	AccessKeyID     string
	AccessKeySecret string
	SignName        string            // approved 短信签名, e.g. "守望"
	Templates       map[string]string // Message.Kind → approved TemplateCode (SMS_…); "" key: fallback
	Endpoint        string            // default AliyunSMSEndpoint; tests point it at httptest
	RegionID        string            // default cn-hangzhou (as the official SDK sends)
	// Params builds TemplateParam from a message; default DefaultSMSParams.
	// Keys must match the ${vars} of the approved templates.
	Params     func(Message) map[string]string
	HTTPClient *http.Client
}

// Validate reports missing or unusable settings.
func (c AliyunSMSConfig) Validate() error {
	var errs []string
	if c.AccessKeyID == "" {
		errs = append(errs, "AccessKeyID is empty")
	}
	if c.AccessKeySecret == "" {
		errs = append(errs, "AccessKeySecret is empty")
	}
	if c.SignName == "" {
		errs = append(errs, "SignName is empty (the approved 短信签名)")
	}
	if len(c.Templates) == 0 {
		errs = append(errs, "Templates is empty (map Message.Kind to an approved TemplateCode, \"\" for the fallback)")
	}
	for kind, code := range c.Templates {
		if !strings.HasPrefix(code, "SMS_") {
			errs = append(errs, fmt.Sprintf("Templates[%q] = %q does not look like an Aliyun TemplateCode (SMS_…)", kind, code))
		}
	}
	if c.Endpoint != "" {
		if err := checkBaseURL("Endpoint", c.Endpoint); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return joinErrs("notify: sms_aliyun: ", errs)
}

// DefaultSMSParams are the template variables both SMS channels fill by
// default: name (recipient), title (≤ 20 runes: providers cap variable
// length), incident (the incident ID). Templates must use ${name}, ${title},
// ${incident} (Aliyun) — Tencent uses the same values positionally {1}{2}{3}.
func DefaultSMSParams(m Message) map[string]string {
	return map[string]string{
		"name":     truncRunes(m.Recipient.Name, 10),
		"title":    truncRunes(m.Title(), 20),
		"incident": truncRunes(m.IncidentID, 20),
	}
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func smsTemplate(templates map[string]string, kind string) (string, bool) {
	if t, ok := templates[kind]; ok && t != "" {
		return t, true
	}
	t, ok := templates[""]
	return t, ok && t != ""
}

// AliyunSMS sends one text per message with SendSms.
type AliyunSMS struct {
	cfg   AliyunSMSConfig
	now   func() time.Time
	nonce func() string
}

// NewAliyunSMS checks cfg and returns the channel.
func NewAliyunSMS(cfg AliyunSMSConfig) (*AliyunSMS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = AliyunSMSEndpoint
	}
	if cfg.Params == nil {
		cfg.Params = DefaultSMSParams
	}
	if cfg.RegionID == "" {
		cfg.RegionID = "cn-hangzhou"
	}
	return &AliyunSMS{cfg: cfg, now: time.Now, nonce: uuid.NewString}, nil
}

// Name implements Channel.
func (c *AliyunSMS) Name() string { return NameAliyunSMS }

// Accepts implements Acceptor.
func (c *AliyunSMS) Accepts(r Recipient) bool { return aliyunPhone(r.Phone) != "" }

// aliyunPhone: mainland numbers without country code; others as 00<cc><n>
// per Aliyun's format for international numbers.
func aliyunPhone(p string) string {
	p = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(p))
	switch {
	case p == "":
		return ""
	case strings.HasPrefix(p, "+86"):
		return p[3:]
	case strings.HasPrefix(p, "+"):
		return "00" + p[1:]
	}
	return p
}

// AliyunPercentEncode is the POP percent-encoding: RFC 3986 unreserved
// characters (A-Z a-z 0-9 - _ . ~) stay, everything else is %XX of its UTF-8
// bytes (so space is %20, * is %2A, ~ stays).
func AliyunPercentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// AliyunCanonicalQuery sorts params by name and joins
// percentEncode(name)=percentEncode(value) with "&" (Signature excluded).
func AliyunCanonicalQuery(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = AliyunPercentEncode(k) + "=" + AliyunPercentEncode(params[k])
	}
	return strings.Join(parts, "&")
}

// AliyunSign computes the RPC signature v1:
//
//	StringToSign = method + "&" + percentEncode("/") + "&" + percentEncode(canonicalQuery)
//	Signature    = base64(HMAC-SHA1(secret + "&", StringToSign))
func AliyunSign(method string, params map[string]string, secret string) string {
	sts := method + "&" + AliyunPercentEncode("/") + "&" + AliyunPercentEncode(AliyunCanonicalQuery(params))
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type aliyunResponse struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	BizID     string `json:"BizId"`
	RequestID string `json:"RequestId"`
}

// Send implements Channel.
func (c *AliyunSMS) Send(ctx context.Context, m Message) error {
	phone := aliyunPhone(m.Recipient.Phone)
	if phone == "" {
		return Permanent(NameAliyunSMS, ReasonInvalid, "", fmt.Errorf("recipient %s has no phone number", m.Recipient.ID))
	}
	tpl, ok := smsTemplate(c.cfg.Templates, m.Kind)
	if !ok {
		return Permanent(NameAliyunSMS, ReasonInvalid, "", fmt.Errorf("no template for kind %q", m.Kind))
	}
	tp, err := json.Marshal(c.cfg.Params(m))
	if err != nil {
		return Permanent(NameAliyunSMS, ReasonInvalid, "", err)
	}
	params := map[string]string{
		"AccessKeyId":      c.cfg.AccessKeyID,
		"Action":           "SendSms",
		"Format":           "JSON",
		"PhoneNumbers":     phone,
		"RegionId":         c.cfg.RegionID,
		"SignName":         c.cfg.SignName,
		"TemplateCode":     tpl,
		"TemplateParam":    string(tp),
		"OutId":            truncate(m.Key, 256), // echoed in delivery receipts
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   c.nonce(), // fresh per attempt: a reused nonce is refused (SignatureNonceUsed)
		"SignatureVersion": "1.0",
		"Timestamp":        c.now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          "2017-05-25",
	}
	sig := AliyunSign(http.MethodGet, params, c.cfg.AccessKeySecret)
	u := strings.TrimRight(c.cfg.Endpoint, "?") + "?Signature=" + AliyunPercentEncode(sig) + "&" + AliyunCanonicalQuery(params)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Permanent(NameAliyunSMS, ReasonInvalid, "", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := clientOr(c.cfg.HTTPClient).Do(req)
	if err != nil {
		// Ambiguous: the text may have gone out. Retried anyway (a possible
		// duplicate beats a missed page); our dedupe stops later duplicates.
		return Transient(NameAliyunSMS, "", err)
	}
	defer resp.Body.Close()
	body, _ := readBody(resp.Body)
	var ar aliyunResponse
	if err := json.Unmarshal(body, &ar); err != nil || ar.Code == "" {
		if resp.StatusCode/100 != 2 {
			return httpStatusError(NameAliyunSMS, resp, body)
		}
		return Transient(NameAliyunSMS, "", fmt.Errorf("unreadable response: %q", truncate(string(body), 200)))
	}
	if ar.Code == "OK" {
		return nil
	}
	return aliyunError(ar)
}

// aliyunError classifies SendSms codes. Retryable: Aliyun-side faults and API
// throttling. Not retryable: everything about the request, the account, the
// number, and the per-number flow control (isv.BUSINESS_LIMIT_CONTROL: a
// retry seconds later is refused again; escalation uses the other channels).
func aliyunError(ar aliyunResponse) *Error {
	err := fmt.Errorf("%s (RequestId %s)", ar.Message, ar.RequestID)
	switch {
	case ar.Code == "isp.SYSTEM_ERROR", ar.Code == "isp.GATEWAY_ERROR", ar.Code == "InternalError",
		ar.Code == "ServiceUnavailable", ar.Code == "SignatureNonceUsed",
		strings.HasPrefix(ar.Code, "Throttling"):
		return &Error{Channel: NameAliyunSMS, Reason: ReasonTransient, Code: ar.Code, Retryable: true, Err: err}
	case ar.Code == "isv.BUSINESS_LIMIT_CONTROL", ar.Code == "isv.DAY_LIMIT_CONTROL", ar.Code == "isv.MONTH_LIMIT_CONTROL":
		return Permanent(NameAliyunSMS, ReasonRateLimited, ar.Code, err)
	case strings.HasPrefix(ar.Code, "SignatureDoesNotMatch"), strings.HasPrefix(ar.Code, "InvalidAccessKeyId"),
		ar.Code == "isp.RAM_PERMISSION_DENY", ar.Code == "Forbidden.RAM", ar.Code == "IncompleteSignature",
		ar.Code == "InvalidTimeStamp.Expired":
		return Permanent(NameAliyunSMS, ReasonAuth, ar.Code, err)
	default:
		return Permanent(NameAliyunSMS, ReasonRejected, ar.Code, err)
	}
}
