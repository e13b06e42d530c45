package eventstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
)

// Registry maps event type names to Go struct types, so that events are stored under a stable
// name (not a Go type name that a refactoring could change) and decoded back into values.
// Register every event of a context once, at start-up. A Registry is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]registration
	byType map[reflect.Type]registration
}

type registration struct {
	name          string
	schemaVersion int
	goType        reflect.Type
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]registration{}, byType: map[reflect.Type]registration{}}
}

// Register makes the struct type T known under name with the given schema version. It panics on
// a programming error: T not a struct, an empty name, a schema version below 1, or a name or type
// registered twice.
func Register[T any](r *Registry, name string, schemaVersion int) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("eventstore: Register %q: %v is not a struct type", name, t))
	}
	if name == "" || schemaVersion < 1 {
		panic(fmt.Sprintf("eventstore: Register %v: need a name and a schema version >= 1", t))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byName[name]; ok {
		panic(fmt.Sprintf("eventstore: event type %q registered twice (%v and %v)", name, old.goType, t))
	}
	if old, ok := r.byType[t]; ok {
		panic(fmt.Sprintf("eventstore: Go type %v registered twice (%q and %q)", t, old.name, name))
	}
	reg := registration{name: name, schemaVersion: schemaVersion, goType: t}
	r.byName[name] = reg
	r.byType[t] = reg
}

// Encode returns the registered name, schema version and JSON payload of v, a value (or a
// pointer to a value) of a registered type. Unregistered types give ErrUnknownEventType.
func (r *Registry) Encode(v any) (typ string, schemaVersion int, data json.RawMessage, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return "", 0, nil, fmt.Errorf("%w: nil event", ErrUnknownEventType)
	}
	r.mu.RLock()
	reg, ok := r.byType[rv.Type()]
	r.mu.RUnlock()
	if !ok {
		return "", 0, nil, fmt.Errorf("%w: Go type %v is not registered", ErrUnknownEventType, rv.Type())
	}
	data, err = json.Marshal(rv.Interface())
	if err != nil {
		return "", 0, nil, fmt.Errorf("eventstore: encode %s: %w", reg.name, err)
	}
	return reg.name, reg.schemaVersion, data, nil
}

// Decode returns the payload of e as a value (not a pointer) of its registered type. Decoding is
// tolerant across schema versions: unknown JSON fields are ignored and missing ones stay zero, so
// a reader survives added fields. An unknown type name gives ErrUnknownEventType; a payload that
// is not a JSON object of the right shape gives ErrInvalidEvent.
func (r *Registry) Decode(e Event) (any, error) {
	r.mu.RLock()
	reg, ok := r.byName[e.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (event %s in %q)", ErrUnknownEventType, e.Type, e.ID, e.Stream)
	}
	p := reflect.New(reg.goType)
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, p.Interface()); err != nil {
			return nil, fmt.Errorf("%w: decode %s (event %s in %q): %v", ErrInvalidEvent, e.Type, e.ID, e.Stream, err)
		}
	}
	return p.Elem().Interface(), nil
}
