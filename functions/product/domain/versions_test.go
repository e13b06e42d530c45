package domain_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"meterline/shared/views"
)

// The documents keep the versions they applied in views.Versions (views.Tracked): the portal
// counts sums once by it, so it is checked here too (shared/views has no test of its own yet).

func TestVersionsAddHasAndCompaction(t *testing.T) {
	var vs views.Versions
	for _, v := range []int64{5, 3, 4, 1, 9, 2, 7, 8} {
		if !vs.Add(v) {
			t.Fatalf("Add(%d) reported a duplicate", v)
		}
	}
	if vs.Add(4) || vs.Add(9) {
		t.Fatal("a second Add of a version must report false")
	}
	want := views.Versions{{From: 1, To: 5}, {From: 7, To: 9}}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("spans = %v, want %v", vs, want)
	}
	for v := int64(0); v <= 10; v++ {
		if got := vs.Has(v); got != (v >= 1 && v <= 5 || v >= 7 && v <= 9) {
			t.Fatalf("Has(%d) = %v", v, got)
		}
	}
	vs.Add(6)
	if !reflect.DeepEqual(vs, views.Versions{{From: 1, To: 9}}) {
		t.Fatalf("filling the gap should merge the spans: %v", vs)
	}
}

func TestVersionsRandomMatchesASet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var vs views.Versions
		set := map[int64]bool{}
		for i := 0; i < 60; i++ {
			v := r.Int64N(40) + 1
			if vs.Add(v) == set[v] {
				t.Fatalf("Add(%d) disagrees with the set", v)
			}
			set[v] = true
		}
		for v := int64(0); v <= 42; v++ {
			if vs.Has(v) != set[v] {
				t.Fatalf("Has(%d) = %v, set says %v (spans %v)", v, vs.Has(v), set[v], vs)
			}
		}
		for i := 1; i < len(vs); i++ {
			if vs[i].From <= vs[i-1].To+1 {
				t.Fatalf("spans not compact: %v", vs)
			}
		}
	}
}
