package views

// Tracked is what a projection keeps in each of its documents, beside the view itself: the
// versions it applied, per source stream, and whether the document was deleted. Embed it in
// the document type:
//
//	type CustomerView struct {
//		views.Tracked
//		Name string `json:"name"`
//	}
type Tracked struct {
	Applied map[string]Versions `json:"applied,omitempty"`
	// Deleted makes the document a tombstone: it answers "not found" and takes no more events,
	// so an event arriving after the deletion (redelivered, or late) never revives it.
	Deleted bool `json:"deleted,omitempty"`
}

// Delete turns the document into a tombstone (a projection's When calls it, for the event
// that ends the document).
func (t *Tracked) Delete() { t.Deleted = true }

// Tracking gives the projection (package blocks) the document's bookkeeping.
func (t *Tracked) Tracking() *Tracked { return t }

// Applies reports whether the document still takes the event at version of stream: it is not a
// tombstone and has not applied that version.
func (t *Tracked) Applies(stream string, version int64) bool {
	return !t.Deleted && !t.Applied[stream].Has(version)
}

// Mark records that the document applied (or, for an event not meant for it, passed) version of
// stream.
func (t *Tracked) Mark(stream string, version int64) {
	if t.Applied == nil {
		t.Applied = map[string]Versions{}
	}
	vs := t.Applied[stream]
	vs.Add(version)
	t.Applied[stream] = vs
}

// Tracker is a document that embeds Tracked.
type Tracker interface{ Tracking() *Tracked }

// Span is a run of consecutive stream versions, From..To inclusive.
type Span struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Versions is the set of versions of one stream a document has applied, as sorted, disjoint,
// non-adjacent spans. Events of one stream arrive with few gaps, so the list stays a span or
// two however long the stream grows.
type Versions []Span

// Has reports whether v was applied.
func (vs Versions) Has(v int64) bool {
	for _, s := range vs {
		if v < s.From {
			return false
		}
		if v <= s.To {
			return true
		}
	}
	return false
}

// Contiguous is the highest version v such that 1..v were all applied (0 if 1 was not).
func (vs Versions) Contiguous() int64 {
	if len(vs) == 0 || vs[0].From != 1 {
		return 0
	}
	return vs[0].To
}

// Add records v; it reports false when v was already there.
func (vs *Versions) Add(v int64) bool {
	s := *vs
	i := 0
	for i < len(s) && s[i].To < v-1 {
		i++
	}
	switch {
	case i == len(s) || v < s[i].From-1:
		// A new span of its own before s[i] (or at the end).
		s = append(s, Span{})
		copy(s[i+1:], s[i:])
		s[i] = Span{v, v}
	case v >= s[i].From && v <= s[i].To:
		return false
	case v == s[i].From-1:
		s[i].From = v
	default: // v == s[i].To+1
		s[i].To = v
		if i+1 < len(s) && s[i+1].From == v+1 {
			s[i].To = s[i+1].To
			s = append(s[:i+1], s[i+2:]...)
		}
	}
	*vs = s
	return true
}
