package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"meterline/shared/funcapp"
)

// bar draws a rebuild's progress on one line of w: events read while reading (their total is
// unknown until the end), then a bar of the documents written. Redrawn at most ten times a
// second.
type bar struct {
	w     io.Writer
	label string
	last  time.Time
	drawn bool
}

const barWidth = 30

func (b *bar) update(p funcapp.Progress) {
	final := p.Documents > 0 && p.Written == p.Documents
	if !final && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last, b.drawn = time.Now(), true
	if p.Documents == 0 || (p.Written == 0 && !final) {
		fmt.Fprintf(b.w, "\r%s  reading: %d events", b.label, p.Events)
		return
	}
	done := barWidth * p.Written / p.Documents
	fmt.Fprintf(b.w, "\r%s  [%s%s] %3d%%  %d/%d documents", b.label, strings.Repeat("=", done), strings.Repeat(" ", barWidth-done),
		100*p.Written/p.Documents, p.Written, p.Documents)
}

// end finishes the line.
func (b *bar) end() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
