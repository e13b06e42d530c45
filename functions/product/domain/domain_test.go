package domain_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"meterline/functions/product/domain"
)

// The rules here only order facts: applying each stream version once is the projections' job
// (package app tests them with redeliveries). A fact is given with its stream version.
type recorded struct {
	version int64
	fact    any
}

func (r recorded) String() string { return fmt.Sprintf("v%d %T", r.version, r.fact) }

// inOrder numbers facts as one stream: versions 1, 2, 3, ...
func inOrder(facts ...any) []recorded {
	out := make([]recorded, len(facts))
	for i, f := range facts {
		out[i] = recorded{int64(i + 1), f}
	}
	return out
}

// customerHistory is one customer stream in order: opened, consumption, balance moves, an
// overdraft lock, invoices issued, one paid and one overdue, a payment and an unlock.
func customerHistory() []recorded {
	issued := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return inOrder(
		domain.AccountOpened{CustomerID: "c1", Name: "Acme", Plan: "starter", Currency: "EUR", CreditLimit: 1000},
		domain.ConsumptionBilled{CustomerID: "c1", ReportID: "r1", Units: 10, Amount: 500, Currency: "EUR", Month: "2026-10"},
		domain.BalanceChanged{CustomerID: "c1", Balance: -500, Currency: "EUR"},
		domain.ChargeBilled{CustomerID: "c1", ChargeID: "ch1", Amount: 700, Currency: "EUR", Month: "2026-10"},
		domain.BalanceChanged{CustomerID: "c1", Balance: -1200, Currency: "EUR"},
		domain.AccountStatusChanged{CustomerID: "c1", Locked: true, Balance: -1200, Currency: "EUR"},
		domain.InvoiceIssued{CustomerID: "c1", InvoiceID: "i1", Period: "2026-10", Amount: 1200, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)},
		domain.PaymentMade{CustomerID: "c1", PaymentID: "p1", Amount: 1200, Currency: "EUR"},
		domain.BalanceChanged{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		domain.AccountStatusChanged{CustomerID: "c1", Locked: false, Balance: 0, Currency: "EUR"},
		domain.InvoiceSettled{CustomerID: "c1", InvoiceID: "i1"},
		domain.ConsumptionBilled{CustomerID: "c1", ReportID: "r2", Units: 4, Amount: 200, Currency: "EUR", Month: "2026-11"},
		domain.InvoiceIssued{CustomerID: "c1", InvoiceID: "i2", Period: "2026-11", Amount: 200, Currency: "EUR", IssuedAt: issued.AddDate(0, 1, 0)},
		domain.InvoiceWentOverdue{CustomerID: "c1", InvoiceID: "i2"},
	)
}

func account(facts []recorded) domain.Account {
	var a domain.Account
	for _, f := range facts {
		a.Apply(f.version, f.fact)
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
}

// Reordered facts must end in exactly the in-order document.
func TestAccountConvergesWhateverTheOrder(t *testing.T) {
	history := customerHistory()
	want := jsonOf(t, account(history))
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 500; round++ {
		facts := append([]recorded(nil), history...)
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		// Round-trip through JSON half-way, as the stored document does.
		half := len(facts) / 2
		a := account(facts[:half])
		var stored domain.Account
		if err := json.Unmarshal([]byte(jsonOf(t, a)), &stored); err != nil {
			t.Fatal(err)
		}
		for _, f := range facts[half:] {
			stored.Apply(f.version, f.fact)
		}
		if got := jsonOf(t, stored); got != want {
			t.Fatalf("round %d: order %v\n got %s\nwant %s", round, facts, got, want)
		}
	}
}

func TestLatePaidInvoiceIsNotReopenedAndHiddenUntilIssued(t *testing.T) {
	var a domain.Account
	a.Apply(5, domain.InvoiceSettled{CustomerID: "c1", InvoiceID: "i1"})
	if len(a.IssuedInvoices()) != 0 {
		t.Fatal("an invoice known only as paid must not be shown before it is issued")
	}
	a.Apply(3, domain.InvoiceIssued{CustomerID: "c1", InvoiceID: "i1", Period: "2026-10", Amount: 900})
	inv := a.IssuedInvoices()
	if len(inv) != 1 || inv[0].Status != domain.InvoicePaid || inv[0].Amount != 900 {
		t.Fatalf("late issue must not reopen a paid invoice: %+v", inv)
	}
}

func TestOlderBalanceNeverOverwritesNewer(t *testing.T) {
	var a domain.Account
	a.Apply(9, domain.BalanceChanged{Balance: -50, Currency: "EUR"})
	a.Apply(6, domain.AccountStatusChanged{Locked: true, Balance: -2000})
	if a.Balance != -50 || a.Status != domain.StatusLocked {
		t.Fatalf("balance %d status %s", a.Balance, a.Status)
	}
	a.Apply(10, domain.AccountStatusChanged{Locked: false, Balance: 100})
	if a.Balance != 100 || a.Status != domain.StatusActive {
		t.Fatalf("balance %d status %s", a.Balance, a.Status)
	}
}

// A portal user is state only (newest version wins per field), so even a duplicate changes
// nothing.
func TestPortalUserKeepsNewestPasswordAndLock(t *testing.T) {
	history := inOrder(
		domain.UserRegistered{UserID: "u1", CustomerID: "c1", Email: " Ann@Example.COM "},
		domain.PasswordChanged{UserID: "u1", CustomerID: "c1", PasswordHash: "h1"},
		domain.UserAccessChanged{UserID: "u1", CustomerID: "c1", Locked: true},
		domain.PasswordChanged{UserID: "u1", CustomerID: "c1", PasswordHash: "h2"},
		domain.UserAccessChanged{UserID: "u1", CustomerID: "c1", Locked: false},
	)
	var want domain.PortalUser
	for _, f := range history {
		want.Apply(f.version, f.fact)
	}
	if want.Email != "ann@example.com" || want.PasswordHash != "h2" || want.Locked {
		t.Fatalf("in order: %+v", want)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		facts := append(append([]recorded(nil), history...), history[r.IntN(len(history))])
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		var u domain.PortalUser
		for _, f := range facts {
			u.Apply(f.version, f.fact)
		}
		if !reflect.DeepEqual(u, want) {
			t.Fatalf("order %v: got %+v want %+v", facts, u, want)
		}
	}
}

// usageHistory is six reports of one usage stream, over four days.
func usageHistory() []domain.UsageReported {
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var history []domain.UsageReported
	for i := int64(1); i <= 6; i++ {
		from := day.Add(time.Duration(i) * 12 * time.Hour)
		history = append(history, domain.UsageReported{CustomerID: "c1", ReportID: "r" + string(rune('0'+i)),
			Units: i, Requests: 1, PeriodFrom: from, PeriodTo: from.Add(time.Minute)})
	}
	return history
}

func TestUsageSumsReportsWhateverTheOrder(t *testing.T) {
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	history := usageHistory()
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 200; round++ {
		facts := append([]domain.UsageReported(nil), history...)
		r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
		var u domain.Usage
		for _, f := range facts {
			u.Apply(f)
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
