package blocks

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
