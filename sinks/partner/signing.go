package partner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Standard Webhooks headers, set on every signed POST.
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
)

// signingKey turns a configured secret into HMAC key bytes. As the Standard
// Webhooks spec says, a secret starting with "whsec_" is the base64 of the
// key; any other secret is used as it is.
func signingKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: whsec_ secret is not base64", ErrMissingSecret)
		}
		return k, nil
	}
	return []byte(secret), nil
}

// webhookSignature is the Standard Webhooks signature header value:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func webhookSignature(key []byte, id string, unix int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, unix, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signURL appends the GET signature parameter to rawURL, last. What is
// signed is rawURL exactly as rendered, before the parameter is added:
// scheme, host, path and query ("https://host/p?a=1"). The value is the
// lower-case hex of HMAC-SHA256(key, that string); during a rotation
// (prev not nil) the value is the new key's signature, a comma, and the
// old key's. A partner verifies by cutting "&<param>=<sig>" (or
// "?<param>=<sig>") off the end of the URL it received, prefixing its own
// scheme and host, and comparing with any of the comma-separated values.
func signURL(rawURL, param string, key, prev []byte) string {
	sep := "?"
	if strings.ContainsRune(rawURL, '?') {
		sep = "&"
	}
	out := rawURL + sep + param + "=" + urlSignature(key, rawURL)
	if prev != nil {
		out += "," + urlSignature(prev, rawURL)
	}
	return out
}

func urlSignature(key []byte, rawURL string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(rawURL))
	return hex.EncodeToString(m.Sum(nil))
}
