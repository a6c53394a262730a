package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

// wallboardHTML is a static page: it holds no data, and its script reads
// /v1/queues with the token typed into the page, rendering every value as
// text (never as markup).
//
//go:embed wallboard.html
var wallboardHTML string

// wallboardCSP allows exactly the page's inline script and style, and
// fetches from the same origin only.
var wallboardCSP = func() string {
	hash := func(tag string) string {
		start := strings.Index(wallboardHTML, "<"+tag+">") + len(tag) + 2
		end := strings.Index(wallboardHTML, "</"+tag+">")
		sum := sha256.Sum256([]byte(wallboardHTML[start:end]))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; connect-src 'self'; script-src " + hash("script") + "; style-src " + hash("style") +
		"; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}()

func (h *Handler) wallboard(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", wallboardCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write([]byte(wallboardHTML)) // the client went away: nothing to do
	return nil
}
