package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TencentSMSEndpoint is the public endpoint of Tencent Cloud SMS (API 3.0).
const TencentSMSEndpoint = "https://sms.tencentcloudapi.com/"

// TencentSMSConfig configures Tencent Cloud SMS (腾讯云短信 SendSms, version
// 2021-01-11, TC3-HMAC-SHA256).
type TencentSMSConfig struct {
	SecretID    string
	SecretKey   string
	SmsSdkAppID string            // the SMS application ID (1400…)
	SignName    string            // approved signature content, required for mainland numbers
	Templates   map[string]string // Message.Kind → approved TemplateId (digits); "" key: fallback
	Region      string            // X-TC-Region, default ap-guangzhou
	Endpoint    string            // default TencentSMSEndpoint; tests point it at httptest
	// Params builds TemplateParamSet (positional {1}, {2}…); default
	// name, title, incident from DefaultSMSParams.
	Params     func(Message) []string
	HTTPClient *http.Client
}

// Validate reports missing or unusable settings.
func (c TencentSMSConfig) Validate() error {
	var errs []string
	if c.SecretID == "" {
		errs = append(errs, "SecretID is empty")
	}
	if c.SecretKey == "" {
		errs = append(errs, "SecretKey is empty")
	}
	if c.SmsSdkAppID == "" {
		errs = append(errs, "SmsSdkAppID is empty (the 1400… application ID)")
	} else if _, err := strconv.ParseUint(c.SmsSdkAppID, 10, 64); err != nil {
		errs = append(errs, fmt.Sprintf("SmsSdkAppID %q is not numeric", c.SmsSdkAppID))
	}
	if c.SignName == "" {
		errs = append(errs, "SignName is empty (required for mainland numbers)")
	}
	if len(c.Templates) == 0 {
		errs = append(errs, "Templates is empty (map Message.Kind to an approved TemplateId, \"\" for the fallback)")
	}
	for kind, id := range c.Templates {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			errs = append(errs, fmt.Sprintf("Templates[%q] = %q is not a numeric TemplateId", kind, id))
		}
	}
	if c.Endpoint != "" {
		if err := checkBaseURL("Endpoint", c.Endpoint); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return joinErrs("notify: sms_tencent: ", errs)
}

// TencentSMS sends one text per message with SendSms.
type TencentSMS struct {
	cfg TencentSMSConfig
	now func() time.Time
}

// NewTencentSMS checks cfg and returns the channel.
func NewTencentSMS(cfg TencentSMSConfig) (*TencentSMS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = TencentSMSEndpoint
	}
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	if cfg.Params == nil {
		cfg.Params = func(m Message) []string {
			p := DefaultSMSParams(m)
			return []string{p["name"], p["title"], p["incident"]}
		}
	}
	return &TencentSMS{cfg: cfg, now: time.Now}, nil
}

// Name implements Channel.
func (c *TencentSMS) Name() string { return NameTencentSMS }

// Accepts implements Acceptor.
func (c *TencentSMS) Accepts(r Recipient) bool { return tencentPhone(r.Phone) != "" }

// tencentPhone returns E.164 (+86…): Tencent requires the country code.
func tencentPhone(p string) string {
	p = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(p))
	switch {
	case p == "":
		return ""
	case strings.HasPrefix(p, "+"):
		return p
	case strings.HasPrefix(p, "00"):
		return "+" + p[2:]
	case len(p) == 11 && p[0] == '1':
		return "+86" + p
	}
	return "+" + p
}

// TC3Sign computes the TC3-HMAC-SHA256 Authorization header for a POST with
// a JSON body, signing the headers content-type and host:
//
//	CanonicalRequest = "POST\n/\n\ncontent-type:<ct>\nhost:<host>\n\ncontent-type;host\n" + hex(sha256(payload))
//	StringToSign     = "TC3-HMAC-SHA256\n<ts>\n<date>/<service>/tc3_request\n" + hex(sha256(CanonicalRequest))
//	kDate = HMAC("TC3"+key, date); kService = HMAC(kDate, service); kSigning = HMAC(kService, "tc3_request")
//	Signature = hex(HMAC(kSigning, StringToSign))
//
// date is the UTC date of ts (YYYY-MM-DD).
func TC3Sign(secretID, secretKey, service, host, contentType string, payload []byte, ts int64) string {
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	ph := sha256.Sum256(payload)
	canonical := "POST\n/\n\n" +
		"content-type:" + contentType + "\nhost:" + host + "\n\n" +
		"content-type;host\n" + hex.EncodeToString(ph[:])
	ch := sha256.Sum256([]byte(canonical))
	scope := date + "/" + service + "/tc3_request"
	sts := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	hm := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	kSigning := hm(hm(hm([]byte("TC3"+secretKey), date), service), "tc3_request")
	sig := hex.EncodeToString(hm(kSigning, sts))
	return "TC3-HMAC-SHA256 Credential=" + secretID + "/" + scope + ", SignedHeaders=content-type;host, Signature=" + sig
}

const tencentContentType = "application/json; charset=utf-8"

type tencentRequest struct {
	PhoneNumberSet   []string `json:"PhoneNumberSet"`
	SmsSdkAppID      string   `json:"SmsSdkAppId"`
	SignName         string   `json:"SignName"`
	TemplateID       string   `json:"TemplateId"`
	TemplateParamSet []string `json:"TemplateParamSet"`
	SessionContext   string   `json:"SessionContext,omitempty"`
}

type tencentResponse struct {
	Response struct {
		Error *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"Error"`
		SendStatusSet []struct {
			SerialNo    string `json:"SerialNo"`
			PhoneNumber string `json:"PhoneNumber"`
			Code        string `json:"Code"`
			Message     string `json:"Message"`
		} `json:"SendStatusSet"`
		RequestID string `json:"RequestId"`
	} `json:"Response"`
}

// Send implements Channel.
func (c *TencentSMS) Send(ctx context.Context, m Message) error {
	phone := tencentPhone(m.Recipient.Phone)
	if phone == "" {
		return Permanent(NameTencentSMS, ReasonInvalid, "", fmt.Errorf("recipient %s has no phone number", m.Recipient.ID))
	}
	tpl, ok := smsTemplate(c.cfg.Templates, m.Kind)
	if !ok {
		return Permanent(NameTencentSMS, ReasonInvalid, "", fmt.Errorf("no template for kind %q", m.Kind))
	}
	params := c.cfg.Params(m)
	if params == nil {
		params = []string{}
	}
	payload, err := json.Marshal(tencentRequest{
		PhoneNumberSet: []string{phone}, SmsSdkAppID: c.cfg.SmsSdkAppID, SignName: c.cfg.SignName,
		TemplateID: tpl, TemplateParamSet: params, SessionContext: truncate(m.Key, 511),
	})
	if err != nil {
		return Permanent(NameTencentSMS, ReasonInvalid, "", err)
	}
	u, err := url.Parse(c.cfg.Endpoint)
	if err != nil {
		return Permanent(NameTencentSMS, ReasonInvalid, "", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoint, bytes.NewReader(payload))
	if err != nil {
		return Permanent(NameTencentSMS, ReasonInvalid, "", err)
	}
	ts := c.now().Unix()
	req.Host = u.Host
	req.Header.Set("Content-Type", tencentContentType)
	req.Header.Set("Host", u.Host)
	req.Header.Set("X-TC-Action", "SendSms")
	req.Header.Set("X-TC-Version", "2021-01-11")
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-TC-Region", c.cfg.Region)
	req.Header.Set("Authorization", TC3Sign(c.cfg.SecretID, c.cfg.SecretKey, "sms", u.Host, tencentContentType, payload, ts))
	resp, err := clientOr(c.cfg.HTTPClient).Do(req)
	if err != nil {
		return Transient(NameTencentSMS, "", err) // ambiguous, see AliyunSMS.Send
	}
	defer resp.Body.Close()
	body, _ := readBody(resp.Body)
	if resp.StatusCode/100 != 2 {
		return httpStatusError(NameTencentSMS, resp, body)
	}
	var tr tencentResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return Transient(NameTencentSMS, "", fmt.Errorf("unreadable response: %q", truncate(string(body), 200)))
	}
	if e := tr.Response.Error; e != nil {
		return tencentError(e.Code, fmt.Errorf("%s (RequestId %s)", e.Message, tr.Response.RequestID))
	}
	if len(tr.Response.SendStatusSet) == 0 {
		return Transient(NameTencentSMS, "", fmt.Errorf("no SendStatusSet (RequestId %s)", tr.Response.RequestID))
	}
	st := tr.Response.SendStatusSet[0]
	if st.Code == "Ok" {
		return nil
	}
	return tencentError(st.Code, fmt.Errorf("%s: %s (RequestId %s)", st.PhoneNumber, st.Message, tr.Response.RequestID))
}

// tencentError classifies API 3.0 error codes and per-number send codes
// (Tencent Cloud SMS "错误码" pages, API 382/38780 and 382/59177).
func tencentError(code string, err error) *Error {
	switch {
	case strings.HasPrefix(code, "InternalError.Sig"), code == "InternalError.RequestTimeException":
		// signature checks and clock skew: retrying the same request cannot help
		return Permanent(NameTencentSMS, ReasonAuth, code, err)
	case code == "InternalError.RestApiInterfaceNotExist":
		return Permanent(NameTencentSMS, ReasonRejected, code, err)
	case strings.HasPrefix(code, "InternalError"), strings.HasPrefix(code, "RequestLimitExceeded"),
		code == "ResourceUnavailable.ServiceUnavailable", code == "FailedOperation.ServiceUnavailable":
		return &Error{Channel: NameTencentSMS, Reason: ReasonTransient, Code: code, Retryable: true, Err: err}
	case strings.HasPrefix(code, "LimitExceeded"):
		// per-number and daily limits: a retry seconds later is refused again
		return Permanent(NameTencentSMS, ReasonRateLimited, code, err)
	case strings.HasPrefix(code, "AuthFailure"), strings.HasPrefix(code, "UnauthorizedOperation"):
		return Permanent(NameTencentSMS, ReasonAuth, code, err)
	default:
		return Permanent(NameTencentSMS, ReasonRejected, code, err)
	}
}
