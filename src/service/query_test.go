package service

import (
	"net/url"
	"strings"
	"testing"
)

var querySeeds = []string{
	"", "correlation_id=c-42", "a=1&correlation_id=c-42&correlation_id=second",
	"correlation_id=&correlation_id=x", "correlation_id", "correlation%5Fid=esc%20aped+plus",
	"correlation_id=bad%zz&correlation_id=good", "correlation_id=semi;colon&correlation_id=ok",
	"correlation_id%=x&correlation_id=y", "&&correlation_id=c&&", "x=1;correlation_id=hidden",
	"correlation_id==x", "correlation_id=a=b", "Correlation_ID=upper",
	strings.Repeat("a=1&", maxScannedParams) + "correlation_id=far",
}

func TestQueryValueIsQueryGet(t *testing.T) {
	for _, q := range querySeeds {
		u := &url.URL{RawQuery: q}
		if got, want := queryValue(u, "correlation_id"), u.Query().Get("correlation_id"); got != want {
			t.Errorf("%q: got %q; want %q", q, got, want)
		}
	}
}

func FuzzQueryValue(f *testing.F) {
	for _, q := range querySeeds {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{RawQuery: q}
		if got, want := queryValue(u, "correlation_id"), u.Query().Get("correlation_id"); got != want {
			t.Errorf("%q: got %q; want %q", q, got, want)
		}
	})
}
