package stage

import (
	"errors"
	"testing"
	"time"
)

func TestAdvertSignedWithTheToken(t *testing.T) {
	a, b, other := NewAdmin(), NewAdmin(), NewAdmin()
	a.SetURL("http://a:8088", "tok")
	b.SetURL("http://b:8088", "tok")
	other.SetURL("http://evil:8088", "another token")
	ad, err := b.ParseAdvert(a.Advertisement())
	if err != nil || ad.URL != "http://a:8088" || ad.Instance != a.Instance() {
		t.Fatalf("a's advert read by b: %+v, %v", ad, err)
	}
	if _, err := a.ParseAdvert(other.Advertisement()); !errors.Is(err, ErrBadAdvert) {
		t.Errorf("an advert signed with another token: %v, want ErrBadAdvert", err)
	}
	for _, forged := range []string{`{"url":"http://evil","instance":"x","sig":"00"}`, `http://evil`, `{}`} {
		if _, err := a.ParseAdvert([]byte(forged)); !errors.Is(err, ErrBadAdvert) {
			t.Errorf("forged advert %q: %v, want ErrBadAdvert", forged, err)
		}
	}
	if ad, err := a.ParseAdvert(nil); ad != nil || err != nil {
		t.Errorf("no user data: %+v, %v; want none, no error", ad, err)
	}
	if NewAdmin().Advertisement() != nil {
		t.Error("an admin without URL and token advertises")
	}
}

func TestForwardSignature(t *testing.T) {
	a := NewAdmin()
	a.SetURL("http://a:8088", "tok")
	now := time.Unix(1_800_000_000, 0)
	sig := a.SignForward("GET", "/v1/devices/app/dev", now)
	if inst, ok := VerifyForward("tok", sig, "GET", "/v1/devices/app/dev", now.Add(10*time.Second)); !ok || inst != a.Instance() {
		t.Errorf("a fresh signature: %q %v", inst, ok)
	}
	for name, c := range map[string]struct {
		token, method, path string
		at                  time.Time
	}{
		"another token": {"nope", "GET", "/v1/devices/app/dev", now},
		"another path":  {"tok", "GET", "/v1/devices/app/other", now},
		"another verb":  {"tok", "POST", "/v1/devices/app/dev", now},
		"too old":       {"tok", "GET", "/v1/devices/app/dev", now.Add(31 * time.Second)},
		"from ahead":    {"tok", "GET", "/v1/devices/app/dev", now.Add(-31 * time.Second)},
	} {
		if _, ok := VerifyForward(c.token, sig, c.method, c.path, c.at); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := VerifyForward("", sig, "GET", "/v1/devices/app/dev", now); ok {
		t.Error("accepted without a token")
	}
}
