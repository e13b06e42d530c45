// Package web is the portal's page: static HTML, CSS and JavaScript embedded in the binary, so
// the Function App deploys as one file. The page talks to the portal's JSON endpoints and, for
// forecasts, straight to the Cloud API (see package product).
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
)

//go:embed static
var static embed.FS

// Asset is one file of the page.
type Asset struct {
	Body        []byte
	ContentType string
	ETag        string
}

var assets = func() map[string]Asset {
	out := map[string]Asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[p[len("static/"):]] = Asset{Body: body, ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return out
}()

// Lookup returns the file name ("index.html", "app.js", ...).
func Lookup(name string) (Asset, bool) {
	a, ok := assets[name]
	return a, ok
}
