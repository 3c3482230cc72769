// Package web is the page every Jaminan node serves at "/": plain HTML, CSS and JavaScript
// under static/, embedded in the binary (no build step, no CDN, no external fonts, works
// offline). The api package serves Index at "/" and the assets at /ui/{file}; the page talks
// to the node's JSON API only. qr.go holds the statement QR format that `jaminan verify` reads.
// docs/WEB.md describes the views and the decisions.
package web

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed static
var static embed.FS

// Asset returns an embedded file of the page and its content type; ok is false when there is
// no such file. name is a bare file name ("app.js").
func Asset(name string) (body []byte, contentType string, ok bool) {
	if name == "" || path.Base(name) != name || name[0] == '.' {
		return nil, "", false
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		return nil, "", false
	}
	return b, contentTypes[path.Ext(name)], true
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// Index returns the page served at "/".
func Index() []byte {
	b, _, _ := Asset("index.html")
	return b
}

// CSP is the Content-Security-Policy of the page: its own scripts, styles and API only; images
// also as data: URLs (the statement's QR codes).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
