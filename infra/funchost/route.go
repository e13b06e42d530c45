package funchost

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Route is an httpTrigger route template, prefix included, e.g.
// "api/customers/{id:int}/usage/{day?}".
type Route struct {
	Template string
	segs     []routeSeg
}

type routeSeg struct {
	literal    string // when not a parameter
	param      string
	constraint string // "", int, long, bool, alpha, guid, double, ...
	optional   bool
	catchAll   bool
}

var paramRE = regexp.MustCompile(`^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$`)

var routeConstraints = map[string]func(string) bool{
	"":       func(string) bool { return true },
	"int":    func(s string) bool { _, err := strconv.ParseInt(s, 10, 32); return err == nil },
	"long":   func(s string) bool { _, err := strconv.ParseInt(s, 10, 64); return err == nil },
	"double": func(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil },
	"float":  func(s string) bool { _, err := strconv.ParseFloat(s, 32); return err == nil },
	"bool":   func(s string) bool { _, err := strconv.ParseBool(strings.ToLower(s)); return err == nil },
	"alpha":  regexp.MustCompile(`^[A-Za-z]+$`).MatchString,
	"guid":   regexp.MustCompile(`^\{?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\}?$`).MatchString,
}

func parseRoute(prefix, template string) (*Route, error) {
	full := strings.Trim(template, "/")
	if prefix != "" {
		full = prefix + "/" + full
	}
	r := &Route{Template: full}
	seen := map[string]bool{}
	parts := strings.Split(full, "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("empty segment in %q", template)
		}
		if !strings.ContainsAny(p, "{}") {
			r.segs = append(r.segs, routeSeg{literal: p})
			continue
		}
		m := paramRE.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("segment %q: want {name}, {name:constraint}, {name?} or {*name}", p)
		}
		s := routeSeg{catchAll: m[1] == "*", param: m[2], constraint: m[3], optional: m[4] == "?"}
		if _, ok := routeConstraints[s.constraint]; !ok {
			return nil, fmt.Errorf("segment %q: unknown constraint %q", p, s.constraint)
		}
		if seen[strings.ToLower(s.param)] {
			return nil, fmt.Errorf("parameter %q appears twice", s.param)
		}
		seen[strings.ToLower(s.param)] = true
		if (s.optional || s.catchAll) && i != len(parts)-1 {
			return nil, fmt.Errorf("segment %q: only the last segment may be optional or catch-all", p)
		}
		r.segs = append(r.segs, s)
	}
	return r, nil
}

// match matches a path without its leading slash, e.g. "api/customers/7".
func (r *Route) match(path string) (map[string]string, bool) {
	path = strings.Trim(path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	params := map[string]string{}
	for i, s := range r.segs {
		if i >= len(parts) {
			if s.optional || s.catchAll {
				return params, true
			}
			return nil, false
		}
		switch {
		case s.param == "":
			if !strings.EqualFold(s.literal, parts[i]) {
				return nil, false
			}
		case s.catchAll:
			params[s.param] = strings.Join(parts[i:], "/")
			return params, true
		default:
			if !routeConstraints[s.constraint](parts[i]) {
				return nil, false
			}
			params[s.param] = parts[i]
		}
	}
	if len(parts) != len(r.segs) {
		return nil, false
	}
	return params, true
}

// precedence orders routes like ASP.NET routing: per segment, literals beat
// constrained parameters, which beat plain ones, which beat optional and
// catch-all ones. Higher is tried first.
func (r *Route) precedence() string {
	var b strings.Builder
	for _, s := range r.segs {
		switch {
		case s.param == "":
			b.WriteByte('5')
		case s.catchAll:
			b.WriteByte('1')
		case s.optional:
			b.WriteByte('2')
		case s.constraint != "":
			b.WriteByte('4')
		default:
			b.WriteByte('3')
		}
	}
	return b.String()
}

// shape is the template with parameter names erased, to detect two routes
// that would match the same requests.
func (r *Route) shape() string {
	var parts []string
	for _, s := range r.segs {
		switch {
		case s.param == "":
			parts = append(parts, strings.ToLower(s.literal))
		case s.catchAll:
			parts = append(parts, "{*}")
		default:
			o := ""
			if s.optional {
				o = "?"
			}
			parts = append(parts, "{:"+s.constraint+o+"}")
		}
	}
	return strings.Join(parts, "/")
}
