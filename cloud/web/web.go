// Package web holds the browser app, embedded so the binary serves everything (no CDN).
//
// The app is plain HTML, CSS and JavaScript with no build step: edit the files
// under static/ and rebuild the binary. It talks to the same-origin JSON API
// under /api/v1 (session cookie) and listens to /api/v1/events (Server-Sent
// Events). Everything is loaded from the binary itself, so a strict
// Content-Security-Policy of default-src 'self' is enough: the pages use no
// inline scripts or inline style attributes.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// FS returns the app's files rooted at static/: the page, script and styles, the
// manifest and icon, and the service worker "sw.js" (served at the root so its scope
// is the whole app).
func FS() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		// Cannot happen: "static" is a valid path embedded above.
		panic(err)
	}
	return sub
}
