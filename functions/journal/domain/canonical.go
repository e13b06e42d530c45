package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// CanonicalJSON is the form in which the Journal keeps a payload, so that one event reads as
// one content whichever way it was serialized: no insignificant space, and every string
// written with the same escapes (the publishers' encoders write "<" as \u003c, a client's as
// "<"). Key order and number literals are kept as they came: they are the producer's.
func CanonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out := bytes.NewBuffer(make([]byte, 0, len(data)))
	type container struct {
		object bool
		items  int // keys and values written so far
	}
	var open []container
	done := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if done {
			return nil, errors.New("more than one JSON value")
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			open = open[:len(open)-1]
			done = len(open) == 0
			continue
		}
		if n := len(open); n > 0 {
			c := &open[n-1]
			switch {
			case c.object && c.items%2 == 1:
				out.WriteByte(':')
			case c.items > 0:
				out.WriteByte(',')
			}
			c.items++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			open = append(open, container{object: v == '{'})
			continue
		case string:
			writeString(out, v)
		case json.Number:
			out.WriteString(string(v))
		case bool:
			fmt.Fprint(out, v)
		case nil:
			out.WriteString("null")
		}
		done = len(open) == 0
	}
	if !done {
		return nil, errors.New("no JSON value")
	}
	return out.Bytes(), nil
}

func writeString(out *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out.Write(bytes.TrimSuffix(b.Bytes(), []byte{'\n'}))
}
