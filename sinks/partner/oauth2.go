package partner

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthTokens fetches and keeps a partner's OAuth2 client-credentials
// token (golang.org/x/oauth2/clientcredentials does the grant): one fetch
// at a time, the token shared by the partner's workers until it expires
// (oauth2 counts it expired 10 s early), and dropped on the partner's 401
// so that the next call fetches a new one. Tokens and the client secret
// are never logged.
type oauthTokens struct {
	cfg    clientcredentials.Config
	client *http.Client
	mu     sync.Mutex
	tok    *oauth2.Token
}

func newOAuthTokens(o OAuth2Config, timeout time.Duration) (*oauthTokens, error) {
	secret := o.ClientSecret
	if secret == "" {
		var err error
		if secret, err = requiredSecret(o.ClientSecretEnv, o.ClientSecretFile, "oauth2 client secret: "); err != nil {
			return nil, err
		}
		secret = strings.TrimSpace(secret)
	}
	return &oauthTokens{
		cfg:    clientcredentials.Config{ClientID: o.ClientID, ClientSecret: secret, TokenURL: o.TokenURL, Scopes: o.Scopes},
		client: &http.Client{Timeout: timeout},
	}, nil
}

// token returns the current token, fetching one when there is none or it
// expired.
func (t *oauthTokens) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() {
		return t.tok.AccessToken, nil
	}
	tok, err := t.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.client))
	if err != nil {
		// The endpoint's answer may quote what was sent; say only where.
		return "", fmt.Errorf("oauth2 token from %s: %s", t.cfg.TokenURL, tokenErrorKind(err))
	}
	t.tok = tok
	return tok.AccessToken, nil
}

// invalidate drops access when it is still the current token: the
// partner refused it (401).
func (t *oauthTokens) invalidate(access string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.AccessToken == access {
		t.tok = nil
	}
}

// tokenErrorKind describes a token fetch failure without its body.
func tokenErrorKind(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		if re.ErrorCode != "" {
			return fmt.Sprintf("status %d, error %s", re.Response.StatusCode, re.ErrorCode)
		}
		return fmt.Sprintf("status %d", re.Response.StatusCode)
	}
	return err.Error()
}
