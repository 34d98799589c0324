// Package console owns the broker's web console: the static files of a
// browser application (HTML, CSS and JavaScript modules, embedded in the
// binary, nothing fetched from elsewhere) that reads and drives the broker
// through its HTTP API. The files hold no data, so they may be served
// without an API key; every request the application makes for data goes
// through the API and its authentication.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// Handler serves the console's files under Prefix. Every path that is not a
// file is the application itself (index.html), which routes on the URL's
// fragment. Files are revalidated by ETag, so a new broker's console is
// picked up at once.
type Handler struct {
	files map[string]file // immutable after New
}

type file struct {
	body  []byte
	etag  string
	ctype string
}

// New loads the embedded files.
func New() *Handler {
	h := &Handler{files: make(map[string]file)}
	sub, _ := fs.Sub(assets, "assets")
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.files[p] = file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: contentType(p)}
		return nil
	})
	return h
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// Files lists the embedded files and their sizes in bytes (the page
// weight).
func (h *Handler) Files() map[string]int {
	out := make(map[string]int, len(h.files))
	for p, f := range h.files {
		out[p] = len(f.body)
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, Prefix)
	f, ok := h.files[p]
	if !ok {
		f = h.files["index.html"]
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	// Nothing but the broker itself: no inline scripts, no other origins.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(f.body))
}
