package domain_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"meterline/functions/product/domain"
)

func TestVersionsAddHasAndCompaction(t *testing.T) {
	var vs domain.Versions
	for _, v := range []int64{5, 3, 4, 1, 9, 2, 7, 8} {
		if !vs.Add(v) {
			t.Fatalf("Add(%d) reported a duplicate", v)
		}
	}
	if vs.Add(4) || vs.Add(9) {
		t.Fatal("a second Add of a version must report false")
	}
	want := domain.Versions{{1, 5}, {7, 9}}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("spans = %v, want %v", vs, want)
	}
	for v := int64(0); v <= 10; v++ {
		if got := vs.Has(v); got != (v >= 1 && v <= 5 || v >= 7 && v <= 9) {
			t.Fatalf("Has(%d) = %v", v, got)
		}
	}
	vs.Add(6)
	if !reflect.DeepEqual(vs, domain.Versions{{1, 9}}) {
		t.Fatalf("filling the gap should merge the spans: %v", vs)
	}
}

func TestVersionsRandomMatchesASet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var vs domain.Versions
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

func at(stream string, v int64) domain.Origin { return domain.Origin{Stream: stream, Version: v} }

// customerHistory is one customer stream in order: opened, consumption, balance moves, an
// overdraft lock, invoices issued, one paid and one overdue, a payment and an unlock.
func customerHistory() []any {
	s := "customer-c1"
	issued := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return []any{
		domain.AccountOpened{Origin: at(s, 1), CustomerID: "c1", Name: "Acme", Plan: "starter", Currency: "EUR", CreditLimit: 1000},
		domain.ConsumptionBilled{Origin: at(s, 2), CustomerID: "c1", ReportID: "r1", Units: 10, Amount: 500, Currency: "EUR", Month: "2026-10"},
		domain.BalanceChanged{Origin: at(s, 3), CustomerID: "c1", Balance: -500, Currency: "EUR"},
		domain.ChargeBilled{Origin: at(s, 4), CustomerID: "c1", ChargeID: "ch1", Amount: 700, Currency: "EUR", Month: "2026-10"},
		domain.BalanceChanged{Origin: at(s, 5), CustomerID: "c1", Balance: -1200, Currency: "EUR"},
		domain.AccountStatusChanged{Origin: at(s, 6), CustomerID: "c1", Locked: true, Balance: -1200, Currency: "EUR"},
		domain.InvoiceIssued{Origin: at(s, 7), CustomerID: "c1", InvoiceID: "i1", Period: "2026-10", Amount: 1200, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)},
		domain.PaymentMade{Origin: at(s, 8), CustomerID: "c1", PaymentID: "p1", Amount: 1200, Currency: "EUR"},
		domain.BalanceChanged{Origin: at(s, 9), CustomerID: "c1", Balance: 0, Currency: "EUR"},
		domain.AccountStatusChanged{Origin: at(s, 10), CustomerID: "c1", Locked: false, Balance: 0, Currency: "EUR"},
		domain.InvoiceSettled{Origin: at(s, 11), CustomerID: "c1", InvoiceID: "i1"},
		domain.ConsumptionBilled{Origin: at(s, 12), CustomerID: "c1", ReportID: "r2", Units: 4, Amount: 200, Currency: "EUR", Month: "2026-11"},
		domain.InvoiceIssued{Origin: at(s, 13), CustomerID: "c1", InvoiceID: "i2", Period: "2026-11", Amount: 200, Currency: "EUR", IssuedAt: issued.AddDate(0, 1, 0)},
		domain.InvoiceWentOverdue{Origin: at(s, 14), CustomerID: "c1", InvoiceID: "i2"},
	}
}

func account(facts []any) domain.Account {
	var a domain.Account
	for _, f := range facts {
		a.Apply(f)
	}
	return a
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAccountInOrder(t *testing.T) {
	a := account(customerHistory())
	if a.Balance != 0 || a.StatusOrActive() != domain.StatusActive || a.Payments != 1200 {
		t.Fatalf("balance %d status %s payments %d", a.Balance, a.Status, a.Payments)
	}
	inv := a.IssuedInvoices()
	if len(inv) != 2 || inv[0].InvoiceID != "i2" || inv[0].Status != domain.InvoiceOverdue || inv[1].Status != domain.InvoicePaid {
		t.Fatalf("invoices %+v", inv)
	}
	if b := a.Billed["2026-10"]; b == nil || b.Units != 10 || b.Consumption != 500 || b.Charges != 700 {
		t.Fatalf("billed 2026-10 = %+v", b)
	}
	if !reflect.DeepEqual(a.Applied, domain.Versions{{1, 14}}) {
		t.Fatalf("applied %v", a.Applied)
	}
}

// Redelivered, duplicated and reordered facts must end in exactly the in-order document.
func TestAccountConvergesWhateverTheOrderAndDuplicates(t *testing.T) {
	history := customerHistory()
	want := jsonOf(t, account(history))
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 500; round++ {
		facts := append([]any(nil), history...)
		for i := 0; i < r.IntN(8); i++ { // redeliveries
			facts = append(facts, history[r.IntN(len(history))])
		}
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		// Round-trip through JSON half-way, as the stored document does.
		var a domain.Account
		half := len(facts) / 2
		for _, f := range facts[:half] {
			a.Apply(f)
		}
		var stored domain.Account
		if err := json.Unmarshal([]byte(jsonOf(t, a)), &stored); err != nil {
			t.Fatal(err)
		}
		for _, f := range facts[half:] {
			stored.Apply(f)
		}
		if got := jsonOf(t, stored); got != want {
			t.Fatalf("round %d: order %v\n got %s\nwant %s", round, facts, got, want)
		}
	}
}

func TestLatePaidInvoiceIsNotReopenedAndHiddenUntilIssued(t *testing.T) {
	var a domain.Account
	a.Apply(domain.InvoiceSettled{Origin: at("customer-c1", 5), CustomerID: "c1", InvoiceID: "i1"})
	if len(a.IssuedInvoices()) != 0 {
		t.Fatal("an invoice known only as paid must not be shown before it is issued")
	}
	a.Apply(domain.InvoiceIssued{Origin: at("customer-c1", 3), CustomerID: "c1", InvoiceID: "i1", Period: "2026-10", Amount: 900})
	inv := a.IssuedInvoices()
	if len(inv) != 1 || inv[0].Status != domain.InvoicePaid || inv[0].Amount != 900 {
		t.Fatalf("late issue must not reopen a paid invoice: %+v", inv)
	}
}

func TestOlderBalanceNeverOverwritesNewer(t *testing.T) {
	var a domain.Account
	a.Apply(domain.BalanceChanged{Origin: at("customer-c1", 9), Balance: -50, Currency: "EUR"})
	a.Apply(domain.AccountStatusChanged{Origin: at("customer-c1", 6), Locked: true, Balance: -2000})
	if a.Balance != -50 || a.Status != domain.StatusLocked {
		t.Fatalf("balance %d status %s", a.Balance, a.Status)
	}
	a.Apply(domain.AccountStatusChanged{Origin: at("customer-c1", 10), Locked: false, Balance: 100})
	if a.Balance != 100 || a.Status != domain.StatusActive {
		t.Fatalf("balance %d status %s", a.Balance, a.Status)
	}
}

func TestPortalUserKeepsNewestPasswordAndLock(t *testing.T) {
	s := "user-u1"
	history := []any{
		domain.UserRegistered{Origin: at(s, 1), UserID: "u1", CustomerID: "c1", Email: " Ann@Example.COM "},
		domain.PasswordChanged{Origin: at(s, 2), UserID: "u1", CustomerID: "c1", PasswordHash: "h1"},
		domain.UserAccessChanged{Origin: at(s, 3), UserID: "u1", CustomerID: "c1", Locked: true},
		domain.PasswordChanged{Origin: at(s, 4), UserID: "u1", CustomerID: "c1", PasswordHash: "h2"},
		domain.UserAccessChanged{Origin: at(s, 5), UserID: "u1", CustomerID: "c1", Locked: false},
	}
	var want domain.PortalUser
	for _, f := range history {
		want.Apply(f)
	}
	if want.Email != "ann@example.com" || want.PasswordHash != "h2" || want.Locked {
		t.Fatalf("in order: %+v", want)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		facts := append(append([]any(nil), history...), history[r.IntN(len(history))])
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		var u domain.PortalUser
		for _, f := range facts {
			u.Apply(f)
		}
		if u != want {
			t.Fatalf("order %v: got %+v want %+v", facts, u, want)
		}
	}
}

func TestUsageCountsEachReportOnce(t *testing.T) {
	s := "usage-c1"
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var history []any
	for i := int64(1); i <= 6; i++ {
		from := day.Add(time.Duration(i) * 12 * time.Hour)
		history = append(history, domain.UsageReported{Origin: at(s, i), CustomerID: "c1", ReportID: "r" + string(rune('0'+i)),
			Units: i, Requests: 1, PeriodFrom: from, PeriodTo: from.Add(time.Minute)})
	}
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 200; round++ {
		facts := append(append([]any(nil), history...), history[r.IntN(6)], history[r.IntN(6)])
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		var u domain.Usage
		for _, f := range facts {
			u.Apply(f.(domain.UsageReported))
		}
		if u.Units != 21 || u.Requests != 6 || u.Reports != 6 {
			t.Fatalf("units %d requests %d reports %d", u.Units, u.Requests, u.Reports)
		}
		days := u.Days()
		want := []domain.DayUsage{{"2026-11-20", 1}, {"2026-11-21", 5}, {"2026-11-22", 9}, {"2026-11-23", 6}}
		if !reflect.DeepEqual(days, want) {
			t.Fatalf("days %v want %v", days, want)
		}
		if !u.ReportedTill.Equal(day.Add(72*time.Hour + time.Minute)) {
			t.Fatalf("reportedTill %v", u.ReportedTill)
		}
	}
}
